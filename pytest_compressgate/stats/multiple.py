"""Multiple-testing correction across the tasks of one gate run.

A gate that checks many tasks at 5% each will flag some task by chance almost every run; Holm's
step-down adjustment controls the family-wise error rate and is never less powerful than Bonferroni,
without assuming the tests are independent (tasks scored on overlapping models are not).

Adjusting printed p-values is not enough: the verdicts are the claims. ``holm_outcomes`` applies Holm to
the verdicts themselves, once per side. The pass side tests each task's ``drop >= allowed`` (rejecting it
passes the task), the fail side ``drop <= allowed`` (rejecting it fails the task); each family of claims
then holds at ``alpha`` as a whole: with every task at its boundary, some task passes (or fails) in at most
``alpha`` of runs. It needs one-sided p-values *at the allowed drop* from the same test as the interval
(``binary.score_margin_p``, ``StudentizedBootstrap.margin_p``); McNemar's p-value tests "no difference"
and is no input for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..modes import Outcome

__all__ = ["holm", "holm_outcomes"]


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, returned in the input order.

    With the m p-values sorted ascending, the k-th (0-based) is multiplied by ``m - k``; a running maximum
    keeps the adjusted values monotone in the raw ones, and they are capped at 1. Rejecting every
    hypothesis whose adjusted p-value is <= alpha is Holm's procedure at family-wise level alpha.
    """
    values = []
    for i, p in enumerate(pvalues):
        try:
            value = float(p)
        except (TypeError, ValueError):
            raise ValueError(f"p-values must be numbers in [0, 1], got {p!r} at index {i}") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"p-values must be numbers in [0, 1], got {p!r} at index {i}")
        values.append(value)
    m = len(values)
    if m == 0:
        return []
    raw = np.asarray(values)
    order = np.argsort(raw, kind="stable")
    scaled = raw[order] * (m - np.arange(m))
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(x) for x in adjusted]


def holm_outcomes(pass_p: Sequence[float], fail_p: Sequence[float], *, alpha: float) -> list[Outcome]:
    """Family-wise verdicts: PASS where the Holm-adjusted pass-side p-value is <= ``alpha``, FAIL where the
    fail-side one is, INCONCLUSIVE otherwise (in the input order)."""
    if len(pass_p) != len(fail_p):
        raise ValueError(f"one pass-side and one fail-side p-value per task, got {len(pass_p)} and {len(fail_p)}")
    outcomes = []
    for p_pass, p_fail in zip(holm(pass_p), holm(fail_p)):
        if p_pass <= alpha:
            outcomes.append(Outcome.PASS)
        elif p_fail <= alpha:
            outcomes.append(Outcome.FAIL)
        else:
            outcomes.append(Outcome.INCONCLUSIVE)
    return outcomes
