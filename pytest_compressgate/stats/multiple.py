"""Multiple-testing correction across the tasks of one gate run.

A gate that checks many tasks at 5% each will flag some task by chance almost every run; Holm's
step-down adjustment controls the family-wise error rate and is never less powerful than Bonferroni,
without assuming the tests are independent (tasks scored on overlapping models are not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["holm"]


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
