"""Turning a measured drop (and its bounds) into PASS, FAIL or INCONCLUSIVE with a one-sentence reason.

Each mode answers a one-sided question, and an ``Interval``'s ``confidence`` is the one-sided coverage of
each of its bounds (see ``intervals``). With ``confidence = 0.95`` the two confident modes read the same
interval three ways:

* upper bound <= allowed drop: **PASS** (evidence the compression is within budget; when the true drop
  equals the allowed drop this happens in at most 5% of runs);
* lower bound > allowed drop: **FAIL** (evidence it is over budget; at most 5% of runs at the boundary);
* otherwise **INCONCLUSIVE**: these examples cannot tell, and the reason says about how many would.

The modes differ in what INCONCLUSIVE does to the build, the ``inconclusive`` threshold key: by default
``confident-pass`` fails it (so every pass is evidence: at most 5% false passes) and ``confident-fail``
passes it (so every failure is evidence: at most 5% false failures). ``estimate`` compares the point drop
with the budget and ignores the noise; near the boundary it is a coin flip, for exploration, not releases.

Ties. A drop exactly at the allowed drop is within budget. For binary metrics the drop is a count
difference over n, so ``verdict`` passes it as exact rationals (``exact``) and 892 vs 900 correct out of
1,000 with an allowed drop of 0.008 is a tie, not 0.008000000000000007 > 0.008. Other metrics are floats
computed from float scores; they count as ties within ``TIE_TOLERANCE`` x max(1, ``scale``), ``scale``
being the magnitude of the scores (rounding error of a difference grows with them).

These rates are as good as the interval's calibration, which ``benchmarks/decision_simulation.py``
checks for every interval the gate uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..modes import DecisionMode, Inconclusive, Outcome, default_inconclusive
from ._checks import check_allowed_drop, check_finite, fmt_pair, fmt_percent
from .intervals import Interval

__all__ = ["TIE_TOLERANCE", "Decision", "DecisionMode", "Outcome", "decide", "examples_to_decide", "within"]

TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Decision:
    """A verdict, the plain sentence with numbers that a report shows, and what it does to the build."""

    passed: bool  # the build's outcome: an INCONCLUSIVE verdict passes or fails as the policy says
    reason: str
    outcome: Outcome | None = None  # None: PASS or FAIL as ``passed`` says
    needed: int | None = None  # INCONCLUSIVE: about how many examples would decide

    def __post_init__(self) -> None:
        if self.outcome is None:
            object.__setattr__(self, "outcome", Outcome.PASS if self.passed else Outcome.FAIL)


def as_mode(mode: DecisionMode | str) -> DecisionMode:
    """Accept a ``DecisionMode`` or its string value (as found in config files); name a bad one."""
    try:
        return DecisionMode(mode)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in DecisionMode)
        raise ValueError(f"mode must be one of {valid}, got {mode!r}") from None


def within(value: float, allowed: float, *, exact: tuple[Fraction, Fraction] | None = None,
           scale: float = 1.0) -> bool:
    """``value <= allowed`` as a gate means it: exactly for rationals, else up to the tie tolerance."""
    if exact is not None:
        return exact[0] <= exact[1]
    return value <= allowed + TIE_TOLERANCE * max(1.0, abs(scale))


def examples_to_decide(*, n: int, drop: float, interval: Interval, allowed: float) -> int | None:
    """About how many examples would move the bound on the drop's side past the allowed drop.

    Bounds shrink as 1/sqrt(n), so the bound's distance from the drop, ``h`` at ``n``, must shrink to the
    drop's distance from the budget: ``n (h / |allowed - drop|)^2``. None when the drop sits on the budget
    or the bound is infinite (no number of examples can be promised).
    """
    gap = allowed - drop
    reach = (interval.high - drop) if gap > 0 else (drop - interval.low)
    if gap == 0 or not math.isfinite(reach):
        return None
    return max(n + 1, math.ceil(n * (reach / abs(gap)) ** 2))


def decide(
    *,
    mode: DecisionMode | str,
    drop: float,
    interval: Interval | None,
    allowed_drop: float,
    n: int | None = None,
    inconclusive: Inconclusive | str | None = None,
    exact: tuple[Fraction, Fraction] | None = None,
    scale: float = 1.0,
) -> Decision:
    """Gate one task given its drop, the interval of the drop and the allowed drop.

    ``drop`` is source minus compressed for a higher-is-better metric (positive: compressed is worse).
    ``interval`` is required for the confident modes and ignored by ``estimate``. ``n`` lets an
    INCONCLUSIVE reason say how many examples would decide; ``inconclusive`` overrides the mode's policy;
    ``exact`` = (drop, allowed) as fractions decides ``estimate`` ties exactly (see the module docstring).
    """
    mode = as_mode(mode)
    drop = check_finite(drop, name="drop")
    allowed = check_allowed_drop(allowed_drop)

    if mode is DecisionMode.ESTIMATE:
        shown, budget = fmt_pair(drop, allowed)
        if within(drop, allowed, exact=exact, scale=scale):
            return Decision(True, f"the measured drop, {shown}, is at or below the allowed drop {budget}")
        return Decision(False, f"the measured drop, {shown}, is above the allowed drop {budget}")

    if interval is None:
        raise ValueError(f"mode {mode.value!r} needs an interval of the drop, got interval=None")
    if not isinstance(interval, Interval):
        raise ValueError(f"interval must be an Interval, got {interval!r}")
    policy = Inconclusive(inconclusive) if inconclusive is not None else default_inconclusive(mode)
    level = fmt_percent(interval.confidence)
    measured = f"measured drop {fmt_pair(drop, allowed)[0]}, {interval.method}"

    if within(interval.high, allowed, scale=scale):
        shown, budget = fmt_pair(interval.high, allowed)
        return Decision(True, f"the upper {level} confidence bound of the drop, {shown}, is at or below the "
                              f"allowed drop {budget} ({measured})")
    if not within(interval.low, allowed, scale=scale):
        shown, budget = fmt_pair(interval.low, allowed)
        return Decision(False, f"the lower {level} confidence bound of the drop, {shown}, is above the allowed "
                               f"drop {budget} ({measured})")
    needed = examples_to_decide(n=n, drop=drop, interval=interval, allowed=allowed) if n else None
    high, budget = fmt_pair(interval.high, allowed)
    low = fmt_pair(interval.low, allowed)[0]
    if needed is not None:
        more = f"; about {needed:,} examples would decide"
    elif n and not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        more = "; the examples bound nothing on one side (the models hardly differ on any): score more of them"
    elif n:
        more = "; no number of examples can be promised to decide a drop this close to the allowed drop"
    else:
        more = ""
    counted = "passes" if policy is Inconclusive.PASS else "fails"
    return Decision(
        policy is Inconclusive.PASS,
        f"INCONCLUSIVE: the upper {level} confidence bound of the drop, {high}, is above the allowed drop "
        f"{budget} and the lower, {low}, is not, so the drop is neither shown within it nor shown to exceed "
        f"it ({measured}){more}; inconclusive = \"{policy.value}\" {counted} the build",
        Outcome.INCONCLUSIVE, needed,
    )
