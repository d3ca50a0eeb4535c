"""Score in chunks and stop once an anytime-valid confidence sequence settles the verdict.

Only metrics with bounded per-example scores (accuracy, exact match, ROUGE-L, ...) can stop early: the
confidence sequence bounds the mean of per-example differences in [-1, 1], which is the metric's drop.
Examples are visited in a seeded random order, as the sequence's validity requires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .stats import ConfidenceSequence, DecisionMode, Interval, early_stop_decided
from .tasks.base import Predictions
from .verdict import Comparison, compare


@dataclass
class EarlyStop:
    chunks: list[np.ndarray]  # the chunks of example indices scored, in visiting order
    interval: Interval  # the confidence sequence's interval at the stop
    decided: bool  # False: every example was needed

    @property
    def used(self) -> np.ndarray:
        return np.concatenate(self.chunks)


def chunk_plan(n: int, *, seed: int, chunks: int = 10, min_chunk: int = 32) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    size = max(min_chunk, -(-n // chunks))
    return [order[i:i + size] for i in range(0, n, size)]


def run_early_stop(
    *,
    n: int,
    differences: Callable[[np.ndarray], np.ndarray],
    allowed_drop: float,
    mode: DecisionMode,
    confidence: float,
    seed: int,
) -> EarlyStop:
    """``differences(indices)`` scores both models on those examples: source minus compressed, per example."""
    sequence = ConfidenceSequence(confidence=confidence)
    used: list[np.ndarray] = []
    for chunk in chunk_plan(n, seed=seed):
        sequence.update(np.asarray(differences(chunk), dtype=float))
        used.append(chunk)
        if early_stop_decided(sequence.interval(), mode=mode, allowed_drop=allowed_drop):
            return EarlyStop(used, sequence.interval(), decided=sum(map(len, used)) < n)
    return EarlyStop(used, sequence.interval(), decided=False)


def compare_early_stop(*, predict: Callable[[np.ndarray], Predictions], **common) -> Comparison:
    """``verdict.compare`` on as few examples as the confidence sequence needs.

    ``predict(indices)`` runs the compressed model on those examples (cached per chunk); ``common`` are
    ``compare``'s other arguments, with the source's predictions on every example.
    """
    task_type, metric, examples = common["task_type"], common["metric"], common["examples"]
    source, thresholds = common["source"], common["thresholds"]
    sign = 1.0 if metric.higher_is_better else -1.0

    def differences(chunk: np.ndarray) -> np.ndarray:
        subset = examples.take(chunk)
        return sign * (task_type.per_example(metric, source.take(chunk), subset)
                       - task_type.per_example(metric, predict(chunk), subset))

    stop = run_early_stop(n=len(examples), differences=differences,
                          allowed_drop=thresholds.allowed_drop(task_type.score(metric, source, examples)),
                          mode=thresholds.decision, confidence=thresholds.confidence, seed=common["seed"])
    used = [int(i) for i in stop.used]
    compressed = Predictions.concat([predict(chunk) for chunk in stop.chunks])
    comparison = compare(**{**common, "examples": examples.take(used), "source": source.take(used)},
                         compressed=compressed, interval=stop.interval if stop.decided else None)
    comparison.examples_used, comparison.n = len(used), len(examples)
    return comparison
