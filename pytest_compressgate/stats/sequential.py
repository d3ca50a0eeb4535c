"""Group-sequential early stopping for a gate whose maximum number of examples is known in advance.

Why not an anytime-valid confidence sequence (what this module used to build). A confidence sequence is
valid at any stopping time, but a gate also has a last look at all N examples, and the old verdict was the
union of the sequence's early stops and the usual fixed-n test at the end: two chances to be wrong, 6-7%
false passes at N = 5,000 instead of 5%. It was also weak, because it pays for infinitely many looks when
the gate makes about ten. A group-sequential design (Jennison & Turnbull, "Group Sequential Methods with
Applications to Clinical Trials", 2000, ch. 7 and 19) pays only for the looks it makes, and its last look
*is* the final test, so the error of the whole procedure is the designed one.

Design. Looks happen after ``n_1 < n_2 < ... < n_K = N`` examples, at information fractions ``t_k = n_k / N``.
Each side of the gate is a one-sided test of ``H0: drop = allowed drop`` with its own error ``alpha = 1 -
confidence``: the *pass* side stops and passes when ``Z_k <= -c_k``, the *fail* side stops and fails when
``Z_k >= c_k``, where ``Z_k`` is the standardised distance of the drop measured on the first ``n_k`` examples
from the allowed drop. The boundaries ``c_k`` spend ``alpha`` over the looks with the Lan-DeMets error
spending function (Lan & DeMets, Biometrika 1983), computed exactly for the canonical joint distribution of
``Z_1..Z_K`` (Brownian motion at times ``t_k``) by recursive numerical integration (Armitage, McPherson &
Rowe 1969; Jennison & Turnbull ch. 19). Under ``H0`` either side is crossed at some look with probability
``alpha`` (to the normal approximation of ``Z``), whatever the number and spacing of the looks.

Spending function. ``"pocock"`` (Lan-DeMets Pocock type, ``alpha * ln(1 + (e - 1) t)``) is the default:
``"obrien-fleming"`` (``2 - 2 Phi(z_{alpha/2} / sqrt(t))``) keeps the final boundary near the fixed-n one but
almost never stops before half the data, so in the benchmark's scenario (N = 1,000, 3% discordant pairs,
allowed drop 0.008, true drop three times that) its median run uses every example, while the Pocock type
decides half of those runs by 48% of the examples (``benchmarks/decision_simulation.py``). The price is a
higher final boundary (about 2.0 instead of 1.645 for ten looks), i.e. some power at the last look.

Reported interval. At the stop (or at the end), the interval reported is the *repeated confidence interval*
(Jennison & Turnbull ch. 9) at the boundary's nominal level ``Phi(c_k)``: the fixed-n interval of the examples
used, at that level. It holds the measured drop, its bounds decide the verdict exactly as the boundaries
do, and it covers the true drop with at least the nominal one-sided ``confidence`` at every look at once.

Validity needs the examples in an order unrelated to their outcomes: ``early_stop`` visits whole batches
in a seeded random order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _sps

from ._checks import check_confidence

__all__ = ["SPENDING", "GroupSequentialDesign", "spent_alpha"]

SPENDING = ("pocock", "obrien-fleming")
_GRID_STEP = 0.01  # score-scale grid spacing of the numerical integration (error well below 1e-4 per look)
_TAIL_SD = 9.0  # the continuation density is integrated down to this many standard deviations


def spent_alpha(t: float | np.ndarray, *, alpha: float, spending: str = "pocock") -> np.ndarray:
    """Cumulative one-sided error allowed by information fraction ``t`` (0 at t = 0, ``alpha`` at t = 1)."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if spending == "pocock":
        return alpha * np.log1p((math.e - 1.0) * t)
    if spending == "obrien-fleming":
        with np.errstate(divide="ignore"):
            z = _sps.norm.ppf(1.0 - alpha / 2.0) / np.sqrt(t)
        return np.where(t > 0, 2.0 - 2.0 * _sps.norm.cdf(z), 0.0)
    raise ValueError(f"spending must be one of {', '.join(SPENDING)}, got {spending!r}")


@dataclass(frozen=True)
class GroupSequentialDesign:
    """One-sided boundaries ``c_k`` on the Z scale for looks at ``looks`` examples out of ``looks[-1]``.

    Build with ``GroupSequentialDesign.build``; the same boundaries serve the pass side (``Z <= -c``) and
    the fail side (``Z >= c``), each spending ``1 - confidence``.
    """

    looks: tuple[int, ...]
    boundaries: tuple[float, ...]
    confidence: float
    spending: str

    @classmethod
    def build(cls, looks: Iterable[int], *, confidence: float = 0.95, spending: str = "pocock"
              ) -> GroupSequentialDesign:
        """Boundaries that spend ``alpha = 1 - confidence`` per side over these looks (the last is N)."""
        return _build(tuple(int(n) for n in looks), check_confidence(confidence), spending)

    @property
    def levels(self) -> tuple[float, ...]:
        """Nominal one-sided confidence of each look's repeated confidence interval, ``Phi(c_k)``."""
        return tuple(float(_sps.norm.cdf(c)) for c in self.boundaries)

    def look_at(self, n: int) -> int:
        """Index of the look made after ``n`` examples; ``ValueError`` if no look is planned there."""
        try:
            return self.looks.index(int(n))
        except ValueError:
            raise ValueError(f"no look is planned after {n} examples; looks: {self.looks}") from None


@functools.lru_cache(maxsize=64)
def _build(looks: tuple[int, ...], confidence: float, spending: str) -> GroupSequentialDesign:
    """Cached: the simulation and a session's tasks reuse a few designs many times."""
    if not looks or looks[0] < 1 or any(b <= a for a, b in zip(looks, looks[1:])):
        raise ValueError(f"looks must be increasing positive example counts, got {looks!r}")
    alpha = 1.0 - confidence
    fractions = np.asarray(looks, dtype=float) / looks[-1]
    cumulative = spent_alpha(fractions, alpha=alpha, spending=spending)
    cumulative[-1] = alpha  # exactly: the last look is the final test
    boundaries = tuple(_boundaries(fractions, np.diff(cumulative, prepend=0.0)))
    return GroupSequentialDesign(looks, boundaries, confidence, spending)


def _boundaries(fractions: np.ndarray, increments: np.ndarray) -> list[float]:
    """Solve look by look for the boundary that spends each increment, given no earlier crossing.

    The sub-density of the score ``S = Z sqrt(t)`` on the continuation region is carried on a grid; the
    crossing probability at the next look is its convolution with the normal increment's upper tail.
    """
    out: list[float] = []
    grid = density = None
    previous_t = 0.0
    for t, spend in zip(fractions, increments):
        step = t - previous_t
        if grid is None:
            boundary = _sps.norm.isf(spend) if spend > 0 else math.inf
            grid = np.arange(-_TAIL_SD * math.sqrt(t), min(boundary, _TAIL_SD) * math.sqrt(t), _GRID_STEP)
            density = _sps.norm.pdf(grid, scale=math.sqrt(t))
        else:
            sd = math.sqrt(step)
            weights = density * _trapezoid(grid)
            if spend <= 0:
                boundary = math.inf
            else:
                boundary = _opt.brentq(_excess, -10.0, 40.0, args=(t, weights, grid, sd, spend), xtol=1e-7)
            upper = min(boundary, _TAIL_SD + 10.0) * math.sqrt(t)
            new_grid = np.arange(min(grid[0], -_TAIL_SD * math.sqrt(t)), upper, _GRID_STEP)
            kernel = _sps.norm.pdf((new_grid[:, None] - grid[None, :]) / sd) / sd
            density, grid = kernel @ weights, new_grid
        out.append(float(boundary))
        previous_t = t
    return out


def _excess(b: float, t: float, weights: np.ndarray, grid: np.ndarray, sd: float, spend: float) -> float:
    """Probability of first crossing boundary ``b`` (Z scale) at time ``t``, minus the error to spend there."""
    return float(np.sum(weights * _sps.norm.sf((b * math.sqrt(t) - grid) / sd))) - spend


def _trapezoid(grid: np.ndarray) -> np.ndarray:
    w = np.full(grid.size, _GRID_STEP)
    w[[0, -1]] = _GRID_STEP / 2
    return w
