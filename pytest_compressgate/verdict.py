"""Compare a compressed model with its source on the same examples and decide the verdict.

Pure computation on per-example predictions: no models, no pytest. Everything a reviewer needs to
see in a report or a failure message is on the returned ``GateResult`` (``result.py``), with the
``decision``, ``finite``, ``collapse`` and ``floor`` checks this module makes.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, cast

import numpy as np

from .config.schema import Thresholds
from .modes import Inconclusive, Outcome, default_inconclusive
from .result import Check, GateResult
from .stats import (DecisionMode, Interval, binary_drop_interval, decide, holm, holm_outcomes, mcnemar_exact,
                    score_margin_p, studentized_bootstrap, width_warning)
from .tasks.base import Examples, Predictions, TaskType
from .tasks.metrics import Metric

BOOTSTRAP_RESAMPLES = 2000


def signed_drop(metric: Metric, source: float, compressed: float) -> float:
    return (source - compressed) if metric.higher_is_better else (compressed - source)


def compare(
    *,
    task_name: str,
    target: str,
    task_type: TaskType,
    metric: Metric,
    examples: Examples,
    source: Predictions,
    compressed: Predictions,
    thresholds: Thresholds,
    seed: int = 0,
    stage: str | None = None,
    gated: bool = True,
    interval: Interval | None = None,
    budget_score: float | Fraction | None = None,
) -> GateResult:
    """Scores, drop, interval and verdict. ``gated=False`` reports the numbers without judging them.

    ``interval`` replaces the measured one (an early stop's repeated confidence interval); ``budget_score``
    is the source score a relative threshold is taken of (default: this comparison's), so an early stop
    decides with the same budget it stopped with.
    """
    n = len(examples)
    if len(source.values) != n or len(compressed.values) != n:
        raise ValueError(
            f"{task_name}[{target}]: {len(source.values)} source and {len(compressed.values)} compressed "
            f"predictions for {n} examples; predictions must be paired"
        )
    source_score = task_type.score(metric, source, examples)
    compressed_score = task_type.score(metric, compressed, examples)
    drop = signed_drop(metric, source_score, compressed_score)
    finite = math.isfinite(source_score) and math.isfinite(compressed_score)
    measured = _uncertainty(task_type, metric, examples, source, compressed, thresholds, seed) if finite else None
    counts = measured.get("counts") if measured else None
    budget = budget_score if budget_score is not None else (
        Fraction(counts[2], n) if counts else source_score)
    allowed = thresholds.allowed_drop(float(budget))
    comparison = GateResult(
        task=task_name, target=target, metric=metric.name, higher_is_better=metric.higher_is_better, n=n,
        source_score=source_score, compressed_score=compressed_score, drop=drop, allowed_drop=allowed,
        min_score=thresholds.min_score, decision=thresholds.decision.value,
        interval=interval or (measured["interval"] if measured else None), stage=stage, gated=gated,
    )
    if thresholds.decision is not DecisionMode.ESTIMATE:
        policy = thresholds.inconclusive or default_inconclusive(thresholds.decision)
        comparison.inconclusive = Inconclusive(policy).value
    if measured:
        comparison.p_value, comparison.p_test = measured["p_value"], measured["p_test"]
        if interval is None:
            comparison.margin_p = measured["margin_p"](allowed)
        if counts:
            b, c, _ = counts
            comparison.discordant = {"source_only": b, "compressed_only": c, "agreement": 1 - (b + c) / n}
    if not finite:
        comparison.check("finite", False,
                         f"the {metric.name} is not finite (source {source_score}, compressed {compressed_score}): "
                         "the metric could not be computed on these predictions")
    else:
        exact = None
        if counts and metric.higher_is_better:
            exact = (Fraction(counts[0] - counts[1], n), exact_allowed(thresholds, budget))
        verdict = decide(mode=thresholds.decision, drop=drop, interval=comparison.interval, allowed_drop=allowed,
                         n=n, inconclusive=thresholds.inconclusive, exact=exact,
                         scale=max(abs(source_score), abs(compressed_score)))
        outcome = cast(Outcome, verdict.outcome)  # Decision.__post_init__ fills in PASS or FAIL when None
        record_decision(comparison, outcome, verdict.reason, verdict.passed, verdict.needed)
    collapse = task_type.collapse(compressed, examples)
    if collapse:
        comparison.check("collapse", False, f"silent collapse: {collapse}")
    if thresholds.min_score is not None and not _meets_floor(metric, compressed_score, thresholds.min_score):
        word = "below" if metric.higher_is_better else "above"
        comparison.check("floor", False, f"compressed {metric.name} {compressed_score:.4f} is {word} the floor "
                                         f"min_score = {thresholds.min_score}")
    if comparison.interval is not None and allowed > 0 and not (measured and measured.get("note")):
        warning = width_warning(n=n, drop=drop, interval=comparison.interval, allowed_drop=allowed)
        if warning:
            comparison.warnings.append(warning)
    if measured and measured.get("note"):
        comparison.warnings.append(measured["note"])
    comparison.settle()
    return comparison


def record_decision(result: GateResult, outcome: Outcome, reason: str, passed: bool,
                    needed: int | None = None) -> None:
    """Put a (possibly re-made) decision on the result: the first check, ``decision``, replacing any earlier
    one; an INCONCLUSIVE decision that passes the build is also said among the warnings."""
    if result.reason is not None and result.reason in result.warnings:
        result.warnings.remove(result.reason)
    result.outcome, result.reason, result.needed = outcome.value, reason, needed
    result.checks = [Check("decision", passed, reason), *(c for c in result.checks if c.name != "decision")]
    if passed and outcome is Outcome.INCONCLUSIVE:
        result.warnings.insert(0, reason)
    result.settle()


def apply_holm(comparisons: list[GateResult], *, family_size: int | None = None) -> None:
    """Holm-adjust the confident verdicts of one target's tasks (``holm = true``), in place.

    Only comparisons with margin p-values from their own interval's test take part (fixed-n, confident
    modes); early-stopped ones were designed at ``alpha / family_size`` (Bonferroni) instead. Holm then runs
    at ``alpha x (its members / family_size)``, so by the union bound the whole family keeps ``alpha``.
    """
    members = [(c, c.interval, c.margin_p) for c in comparisons
               if c.margin_p is not None and c.decision != DecisionMode.ESTIMATE.value
               and c.interval is not None and c.reason is not None]
    if not members:
        return
    size = max(family_size or len(comparisons), len(members))
    family = min(1.0 - interval.confidence for _, interval, _ in members)
    alpha = family * len(members) / size
    pass_p = [margin_p["pass"] for _, _, margin_p in members]
    fail_p = [margin_p["fail"] for _, _, margin_p in members]
    outcomes = holm_outcomes(pass_p, fail_p, alpha=alpha)
    for (c, _, _), outcome, p_pass, p_fail in zip(members, outcomes, holm(pass_p), holm(fail_p)):
        head = (f"Holm over {size} task(s) of target {c.target!r}, family-wise {family:.3g}: "
                f"adjusted p-value {p_pass:.3g} that the drop is within the allowed drop {c.allowed_drop:.4g}, "
                f"{p_fail:.3g} that it exceeds it")
        if outcome is Outcome.PASS:
            record_decision(c, outcome, f"{head}: PASS", True)
        elif outcome is Outcome.FAIL:
            record_decision(c, outcome, f"{head}: FAIL", False)
        else:
            passes = c.inconclusive == Inconclusive.PASS.value
            record_decision(c, outcome, f"{head}: INCONCLUSIVE, which {'passes' if passes else 'fails'} the build",
                            passes)


def exact_allowed(thresholds: Thresholds, source_score: float | Fraction) -> Fraction:
    """The allowed drop as a rational: the thresholds as written in decimal, times an exact source score."""
    limits = []
    if thresholds.max_drop is not None:
        limits.append(Fraction(str(thresholds.max_drop)))
    if thresholds.max_relative_drop is not None:
        score = source_score if isinstance(source_score, Fraction) else Fraction(str(source_score))
        limits.append(Fraction(str(thresholds.max_relative_drop)) * abs(score))
    return min(limits) if limits else Fraction(0)


def _meets_floor(metric: Metric, score: float, floor: float) -> bool:
    return score >= floor if metric.higher_is_better else score <= floor


def _uncertainty(task_type: TaskType, metric: Metric, examples: Examples, source: Predictions,
                 compressed: Predictions, thresholds: Thresholds, seed: int) -> dict[str, Any]:
    """Interval of the drop, the p-value of "no difference" (and what test gave it), margin p-values at an
    allowed drop for Holm, and for binary metrics the counts (source-only, compressed-only, source-right)."""
    n, confidence = len(examples), thresholds.confidence
    sign = 1.0 if metric.higher_is_better else -1.0
    if metric.binary:
        src = np.asarray(task_type.per_example(metric, source, examples), dtype=bool)
        cmp_ = np.asarray(task_type.per_example(metric, compressed, examples), dtype=bool)
        b, c = int(np.sum(src & ~cmp_)), int(np.sum(~src & cmp_))
        if not metric.higher_is_better:
            b, c = c, b
        interval = binary_drop_interval(src, cmp_, confidence=confidence)
        if not metric.higher_is_better:
            interval = Interval(-interval.high, -interval.low, interval.confidence, interval.method)

        def margins(allowed: float) -> dict[str, float]:
            return {side: float(score_margin_p(np.array([b]), np.array([c]), n, allowed, side=side)[0])
                    for side in ("pass", "fail")}

        return {"interval": interval, "p_value": mcnemar_exact(src, cmp_), "p_test": "McNemar",
                "margin_p": margins, "counts": (b, c, int(src.sum()))}

    def drop_fn(index: np.ndarray) -> float:
        return sign * (task_type.score(metric, source, examples, index)
                       - task_type.score(metric, compressed, examples, index))

    boot = studentized_bootstrap(drop_fn, n, n_resamples=BOOTSTRAP_RESAMPLES, seed=seed)
    note = None
    if n < 2:
        note = (f"too few examples: n={n} cannot give an interval for the {metric.name} drop (at least 2 are "
                "needed, and far more for a useful one)")
    return {"interval": boot.interval(confidence), "p_value": boot.p_value(), "p_test": "bootstrap",
            "margin_p": lambda allowed: {side: boot.margin_p(allowed, side=side) for side in ("pass", "fail")},
            "note": note}
