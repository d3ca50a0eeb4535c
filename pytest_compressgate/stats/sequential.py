"""Anytime-valid bounds on the drop, so a gate can stop scoring examples once its verdict is settled.

Checking a fixed-n interval after every chunk and stopping when it looks decided inflates the error
rate far beyond the nominal one. A confidence sequence is instead valid simultaneously over all n, so
stopping whenever it is convenient keeps the promise.

Construction: the hedged-capital betting confidence sequence of Waudby-Smith & Ramdas ("Estimating means
of bounded random variables by betting", JRSS-B 2023) with their predictable plug-in bets. Per-example
paired differences ``v`` in [-1, 1] are mapped to ``x = (v + 1) / 2`` in [0, 1]. For each candidate mean
``m`` on a grid, two wealth processes bet that the mean is above / below ``m``:

    K+_t(m) = prod_i (1 + l+_i(m) (x_i - m)),   K-_t(m) = prod_i (1 - l-_i(m) (x_i - m)),
    l_i = sqrt(2 log(1/alpha) / (s2_{i-1} i log(1 + i))),  l+_i(m) = min(l_i, c/m),  l-_i(m) = min(l_i, c/(1-m)),

with ``c = 1/2`` and ``s2`` the regularised running variance. Each is a non-negative martingale when the
true mean is ``m``, so by Ville's inequality it ever reaches ``1/alpha`` with probability at most
``alpha``: ``m`` is excluded from below once ``K+`` has reached it and from above once ``K-`` has. The
bets adapt to the variance, which matters here because most paired differences are exactly 0.

``confidence`` is, as everywhere in this package, the one-sided coverage of each bound (``alpha = 1 -
confidence`` per side), now uniformly over time. Excluded candidates stay excluded, so the lower bound never
decreases and the upper bound never increases; grid rounding only widens the bounds (conservative).

Validity needs the examples to be an i.i.d. sample of the task fed in an order unrelated to the outcomes:
shuffle (with a fixed seed) a dataset file that is sorted by source, length or difficulty.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_allowed_drop, check_confidence, check_positive_int
from .decision import DecisionMode, as_mode
from .intervals import Interval

__all__ = ["ConfidenceSequence", "early_stop_decided"]

_BET_CAP = 0.5  # c in the module docstring: no single example can cost more than half the wealth
_BLOCK_ELEMENTS = 1 << 20  # rows x active-grid cells evaluated at once, to bound memory


class ConfidenceSequence:
    """Running mean of per-example paired differences (source score minus compressed score) in [-1, 1].

    Feed chunks with ``update``; ``interval()`` returns bounds valid simultaneously for every n, so any
    data-dependent stopping rule (see ``early_stop_decided``) keeps ``confidence``. Cost is O(n x active
    grid points); the active range shrinks with the interval, so long runs get cheaper per example.
    ``grid_size`` sets the resolution: bounds are rounded outward to a multiple of ``2 / (grid_size - 1)``.
    Deterministic: no randomness is involved.
    """

    def __init__(self, *, confidence: float = 0.95, grid_size: int = 4001) -> None:
        self._confidence = check_confidence(confidence)
        grid_size = check_positive_int(grid_size, name="grid_size", minimum=3)
        self._log_threshold = math.log(1.0 / (1.0 - self._confidence))
        self._grid = np.linspace(0.0, 1.0, grid_size)
        with np.errstate(divide="ignore"):
            self._cap_plus = np.where(self._grid > 0, _BET_CAP / self._grid, np.inf)
            self._cap_minus = np.where(self._grid < 1, _BET_CAP / (1.0 - self._grid), np.inf)
        self._log_k_plus = np.zeros(grid_size)
        self._log_k_minus = np.zeros(grid_size)
        self._lo = 0  # first grid index not yet excluded
        self._hi = grid_size - 1  # last grid index not yet excluded
        self._n = 0
        self._sum = 0.0  # of the original values in [-1, 1]
        self._sum_x = 0.0  # of the mapped values in [0, 1]
        self._sum_sq_dev = 0.0  # of (x_i - running mean_i)^2, for the plug-in variance
        self._collapsed: tuple[float, float] | None = None

    @property
    def n(self) -> int:
        """Number of examples seen so far."""
        return self._n

    @property
    def mean(self) -> float:
        """Plain running mean of the differences (the measured drop); NaN before any data."""
        return self._sum / self._n if self._n else float("nan")

    @property
    def confidence(self) -> float:
        """One-sided coverage of each bound, uniformly over time."""
        return self._confidence

    def update(self, values: np.ndarray) -> None:
        """Add one chunk of per-example differences, in the order the examples were scored."""
        arr = np.asarray(values, dtype=float).reshape(-1)
        if arr.size == 0:
            return
        bad = ~(np.isfinite(arr) & (arr >= -1.0 - 1e-9) & (arr <= 1.0 + 1e-9))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"values must be paired differences in [-1, 1], got {arr[i].item()!r} at index {i}")
        arr = np.clip(arr, -1.0, 1.0)
        x = (arr + 1.0) / 2.0
        bets = self._plug_in_bets(x)
        self._n += arr.size
        self._sum += float(arr.sum())
        if self._collapsed is not None or self._lo > self._hi:
            return
        rows = max(1, _BLOCK_ELEMENTS // (self._hi - self._lo + 1))
        for start in range(0, x.size, rows):
            self._bet(x[start : start + rows], bets[start : start + rows])
            if self._lo > self._hi:
                self._settle_empty()
                return

    def interval(self) -> Interval:
        """Bounds on the mean difference, valid simultaneously over all n; [-1, 1] before any data."""
        if self._collapsed is not None:
            low_x, high_x = self._collapsed
        else:
            low_x = self._grid[self._lo - 1] if self._lo > 0 else 0.0
            high_x = self._grid[self._hi + 1] if self._hi < self._grid.size - 1 else 1.0
        return Interval(
            low=float(2.0 * low_x - 1.0),
            high=float(2.0 * high_x - 1.0),
            confidence=self._confidence,
            method="confidence-sequence",
        )

    def _plug_in_bets(self, x: np.ndarray) -> np.ndarray:
        """Predictable bet sizes l_i for the new examples; also advances the running mean/variance sums."""
        t = self._n + np.arange(1, x.size + 1, dtype=float)  # 1-based time of each new example
        running_mean = (0.5 + self._sum_x + np.cumsum(x)) / (t + 1.0)
        sq_dev = np.cumsum((x - running_mean) ** 2) + self._sum_sq_dev
        variance_after = (0.25 + sq_dev) / (t + 1.0)
        variance_before = np.concatenate(([(0.25 + self._sum_sq_dev) / (self._n + 1.0)], variance_after[:-1]))
        self._sum_x += float(x.sum())
        self._sum_sq_dev = float(sq_dev[-1])
        return np.sqrt(2.0 * self._log_threshold / (variance_before * t * np.log1p(t)))

    def _bet(self, x: np.ndarray, bets: np.ndarray) -> None:
        """Update both wealth processes on the active grid and exclude candidates that hit 1/alpha."""
        lo, hi = self._lo, self._hi
        m = self._grid[lo : hi + 1]
        diff = x[:, None] - m[None, :]
        lam_plus = np.minimum(bets[:, None], self._cap_plus[lo : hi + 1][None, :])
        lam_minus = np.minimum(bets[:, None], self._cap_minus[lo : hi + 1][None, :])
        path_plus = self._log_k_plus[lo : hi + 1] + np.cumsum(np.log1p(lam_plus * diff), axis=0)
        path_minus = self._log_k_minus[lo : hi + 1] + np.cumsum(np.log1p(-lam_minus * diff), axis=0)
        self._log_k_plus[lo : hi + 1] = path_plus[-1]
        self._log_k_minus[lo : hi + 1] = path_minus[-1]
        # K+ decreases in m, so its exclusions are a prefix of the grid; K- increases, so a suffix. Taking
        # the extreme excluded index also excludes everything beyond it, as monotonicity allows.
        hit_plus = np.flatnonzero((path_plus >= self._log_threshold).any(axis=0))
        hit_minus = np.flatnonzero((path_minus >= self._log_threshold).any(axis=0))
        if hit_plus.size:
            self._lo = lo + int(hit_plus[-1]) + 1
        if hit_minus.size:
            self._hi = lo + int(hit_minus[0]) - 1

    def _settle_empty(self) -> None:
        """Freeze the bounds once no grid candidate is left.

        Adjacent exclusions leave one grid cell, which is kept. Overlapping ones mean the bounds crossed,
        an event of probability at most 2 * alpha in which coverage has already failed; the interval is then
        collapsed to the midpoint rather than reported with low > high.
        """
        low_x = self._grid[self._lo - 1] if self._lo > 0 else 0.0
        high_x = self._grid[self._hi + 1] if self._hi < self._grid.size - 1 else 1.0
        if low_x > high_x:
            low_x = high_x = 0.5 * (low_x + high_x)
        self._collapsed = (float(low_x), float(high_x))


def early_stop_decided(cs_interval: Interval, *, mode: DecisionMode | str, allowed_drop: float) -> bool:
    """True when the whole confidence-sequence interval lies on one side of the allowed drop.

    For ``confident-pass`` and ``confident-fail`` the verdict can then no longer change: the bounds of a
    ``ConfidenceSequence`` only tighten, so an upper bound at or below the allowed drop stays there (a
    settled pass), and a lower bound above it stays above (a settled failure). Decide the stopped run with
    ``decide(mode=..., drop=cs.mean, interval=cs.interval(), ...)``, not with a fixed-n interval, which
    would not be valid at a data-dependent stopping time. ``estimate`` gates on the point drop, which the
    interval does not pin down; stopping then means the *true* drop is on that side (with probability at
    least ``2 * confidence - 1``), so a full run would most likely reach the same verdict.
    """
    as_mode(mode)
    allowed = check_allowed_drop(allowed_drop)
    if not isinstance(cs_interval, Interval):
        raise ValueError(f"cs_interval must be an Interval, got {cs_interval!r}")
    return cs_interval.low > allowed or cs_interval.high <= allowed
