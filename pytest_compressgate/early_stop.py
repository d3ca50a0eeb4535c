"""Score in chunks of whole batches and stop once a group-sequential test settles the verdict.

The design (``stats.sequential``) knows the maximum n, the task's size, in advance and spends the gate's
error over about ten looks with a Lan-DeMets boundary; its last look, on every example, is the final
test, so the whole procedure keeps the promised error rate (the old confidence sequence plus a separate
fixed-n test at the end did not). At each look the statistic is the standardised distance of the drop
measured so far from the allowed drop: Tango's score statistic for right/wrong metrics (the same test as
``binary_drop_interval``), the mean paired difference over its standard error for other bounded
per-example metrics. The interval reported is the repeated confidence interval at the look's boundary
level; the drop reported is measured on the same examples, so it lies inside it.

Batches. Dynamic INT8 quantizes activations per batch, so a prediction can depend on its batch
companions. Chunks are therefore unions of the full run's own batches (examples ``[0, bs)``, ``[bs, 2 bs)``,
...), visited in a seeded random order, each batch kept whole and in order (a short last batch goes last in
its chunk): every example is scored in exactly the batch it would have in a full run.

Relative thresholds take the source score on *all* examples (the source is always scored in full) for
both the stopping rule and the verdict, so the two can never disagree about the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .stats import DecisionMode, GroupSequentialDesign, Interval, score_drop_bounds
from .tasks.base import Predictions
from .result import GateResult
from .verdict import compare

LOOKS = 10  # about this many looks; each is a whole number of batches
PSEUDO_SPREAD = 0.5  # graded metrics: squared spread of a pseudo-example (see ``_normal_interval``)


@dataclass
class EarlyStop:
    chunks: list[np.ndarray]  # the chunks of example indices scored, in visiting order
    interval: Interval  # the repeated confidence interval at the last look made
    decided: bool  # True: the verdict was settled before the last look
    look: int  # 1-based index of the last look made
    looks: int  # looks planned

    @property
    def used(self) -> np.ndarray:
        return np.concatenate(self.chunks)


def chunk_plan(n: int, *, seed: int, batch_size: int = 32, looks: int = LOOKS) -> list[np.ndarray]:
    """Chunks of whole full-run batches in a seeded random order: ``looks`` of them (fewer for few batches),
    as even as whole batches allow, the smaller ones first."""
    starts = list(range(0, n, batch_size))
    order = np.random.default_rng(seed).permutation(len(starts))
    groups = [list(g) for g in np.array_split(order, min(looks, len(starts)))]
    groups.sort(key=len)  # stable: the draw's order is kept among groups of one size
    partial = len(starts) - 1 if n % batch_size else None
    chunks = []
    for group in groups:
        group.sort(key=lambda b: b == partial)  # the short batch last, so later batches stay aligned
        chunks.append(np.concatenate([np.arange(starts[b], min(starts[b] + batch_size, n)) for b in group]))
    return chunks


def run_early_stop(
    *,
    n: int,
    differences: Callable[[np.ndarray], np.ndarray],
    allowed_drop: float,
    confidence: float,
    seed: int,
    batch_size: int = 32,
    binary: bool = False,
    spending: str = "pocock",
) -> EarlyStop:
    """``differences(indices)`` scores both models on those examples: source minus compressed, per example
    (in metric units, positive = compressed worse). Stops when the look's interval clears the budget."""
    chunks = chunk_plan(n, seed=seed, batch_size=batch_size)
    design = GroupSequentialDesign.build(np.cumsum([len(c) for c in chunks]), confidence=confidence,
                                         spending=spending)
    values: list[np.ndarray] = []
    for k, (chunk, level) in enumerate(zip(chunks, design.levels)):
        values.append(np.asarray(differences(chunk), dtype=float))
        seen = np.concatenate(values)
        method = f"repeated CI, look {k + 1} of {len(chunks)}"
        interval = _score_interval(seen, level, method) if binary else _normal_interval(seen, level, method)
        if interval.high <= allowed_drop or interval.low > allowed_drop:
            return EarlyStop(chunks[:k + 1], interval, k + 1 < len(chunks), k + 1, len(chunks))
    return EarlyStop(chunks, interval, False, len(chunks), len(chunks))


def _score_interval(seen: np.ndarray, level: float, method: str) -> Interval:
    b, c = np.array([np.sum(seen > 0.5)]), np.array([np.sum(seen < -0.5)])
    low, high = score_drop_bounds(b, c, seen.size, confidence=level)
    return Interval(float(low[0]), float(high[0]), level, method)


def _normal_interval(seen: np.ndarray, level: float, method: str) -> Interval:
    """Mean +- c x standard error; the spread gets ``PSEUDO_SPREAD`` of one pseudo-example, so a prefix on
    which the models never differ cannot look certain (graded scores live in [0, 1])."""
    from scipy import stats as sps

    mean = float(seen.mean())
    spread = (float(np.sum((seen - mean) ** 2)) + PSEUDO_SPREAD) / seen.size
    half = float(sps.norm.ppf(level)) * np.sqrt(spread / seen.size)
    return Interval(mean - half, mean + half, level, method)


def compare_early_stop(*, predict: Callable[[np.ndarray], Predictions], batch_size: int = 32,
                       **common) -> GateResult:
    """``verdict.compare`` on as few examples as the group-sequential design needs.

    ``predict(indices)`` runs the compressed model on those examples (cached per chunk); ``common`` are
    ``compare``'s other arguments, with the source's predictions on every example.
    """
    task_type, metric, examples = common["task_type"], common["metric"], common["examples"]
    source, thresholds = common["source"], common["thresholds"]
    sign = 1.0 if metric.higher_is_better else -1.0
    full = task_type.per_example(metric, source, examples)
    budget: float | Fraction = Fraction(int(np.sum(full)), len(examples)) if metric.binary \
        else task_type.score(metric, source, examples)

    def differences(chunk: np.ndarray) -> np.ndarray:
        subset = examples.take(chunk)
        return sign * (task_type.per_example(metric, source.take(chunk), subset)
                       - task_type.per_example(metric, predict(chunk), subset))

    stop = run_early_stop(n=len(examples), differences=differences,
                          allowed_drop=thresholds.allowed_drop(float(budget)), confidence=thresholds.confidence,
                          seed=common["seed"], batch_size=batch_size, binary=metric.binary)
    used = [int(i) for i in stop.used]
    compressed = Predictions.concat([predict(chunk) for chunk in stop.chunks])
    confident = thresholds.decision is not DecisionMode.ESTIMATE
    comparison = compare(**{**common, "examples": examples.take(used), "source": source.take(used)},
                         compressed=compressed, interval=stop.interval if confident or stop.decided else None,
                         budget_score=budget)
    comparison.examples_used, comparison.n = len(used), len(examples)
    return comparison
