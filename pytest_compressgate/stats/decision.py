"""Turning a measured drop (and its bounds) into a pass/fail verdict with a one-sentence reason.

Each mode answers a one-sided question, and an ``Interval``'s ``confidence`` is the one-sided coverage of
each of its bounds (see ``intervals``). So with ``confidence = 0.95``:

* ``confident-pass`` passes only if the upper bound is <= the allowed drop. When the true drop equals the
  allowed drop it passes at most 5% of the time: a pass is evidence the compression is within budget.
* ``confident-fail`` fails only if the lower bound is > the allowed drop. When the true drop equals the
  allowed drop it fails at most 5% of the time: a failure is evidence the compression is over budget.
* ``estimate`` compares the point drop with the budget and ignores the noise; near the boundary it is a
  coin flip, which is why it is for exploration, not for guarding a release.

These rates are as good as the interval's calibration: ``binary_drop_interval`` keeps them (checked by
``benchmarks/decision_simulation.py``); the percentile bootstrap is somewhat liberal at small n.

Reading 0.95 as two-sided instead (each bound at 97.5%) would halve those error rates at a cost in power:
in the benchmark's scenario, failures at three times the budget would fall from 93% to 88% (exact), and
below the promised 85% for budgets under about 0.0078 (83% at 0.0075).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._checks import check_allowed_drop, check_finite, fmt_pair, fmt_percent
from ..modes import DecisionMode
from .intervals import Interval

__all__ = ["Decision", "DecisionMode", "decide"]


@dataclass(frozen=True)
class Decision:
    """A verdict plus the plain sentence, with numbers, that a failing test report shows."""

    passed: bool
    reason: str


def as_mode(mode: DecisionMode | str) -> DecisionMode:
    """Accept a ``DecisionMode`` or its string value (as found in config files); name a bad one."""
    try:
        return DecisionMode(mode)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in DecisionMode)
        raise ValueError(f"mode must be one of {valid}, got {mode!r}") from None


def decide(
    *,
    mode: DecisionMode | str,
    drop: float,
    interval: Interval | None,
    allowed_drop: float,
) -> Decision:
    """Gate one task: pass or fail the compressed model given its drop and the allowed drop.

    ``drop`` is source minus compressed for a higher-is-better metric (positive: compressed is worse).
    ``interval`` is required for the confident modes and ignored by ``estimate``. A drop or bound exactly
    equal to the allowed drop counts as within budget, so an allowed drop of 0 accepts an unchanged model
    in ``estimate`` mode.
    """
    mode = as_mode(mode)
    drop = check_finite(drop, name="drop")
    allowed = check_allowed_drop(allowed_drop)

    if mode is DecisionMode.ESTIMATE:
        shown, budget = fmt_pair(drop, allowed)
        if drop <= allowed:
            return Decision(True, f"the measured drop, {shown}, is at or below the allowed drop {budget}")
        return Decision(False, f"the measured drop, {shown}, is above the allowed drop {budget}")

    if interval is None:
        raise ValueError(f"mode {mode.value!r} needs an interval of the drop, got interval=None")
    if not isinstance(interval, Interval):
        raise ValueError(f"interval must be an Interval, got {interval!r}")
    level = fmt_percent(interval.confidence)
    measured = f"measured drop {fmt_pair(drop, allowed)[0]}, {interval.method}"

    if mode is DecisionMode.CONFIDENT_PASS:
        shown, budget = fmt_pair(interval.high, allowed)
        head = f"the upper {level} confidence bound of the drop, {shown}, is"
        if interval.high <= allowed:
            return Decision(True, f"{head} at or below the allowed drop {budget} ({measured})")
        return Decision(False, f"{head} above the allowed drop {budget} ({measured})")

    shown, budget = fmt_pair(interval.low, allowed)
    head = f"the lower {level} confidence bound of the drop, {shown}, is"
    if interval.low > allowed:
        return Decision(False, f"{head} above the allowed drop {budget} ({measured})")
    return Decision(
        True, f"{head} at or below the allowed drop {budget}, so the drop is not shown to exceed it ({measured})"
    )
