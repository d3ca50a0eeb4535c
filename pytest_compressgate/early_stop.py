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
