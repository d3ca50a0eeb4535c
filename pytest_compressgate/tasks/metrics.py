"""Metrics registry. Each metric knows whether higher is better and, where it exists, its per-example form.

Computed with numpy / scikit-learn directly: ``evaluate.load`` fetches code from a hub at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compressors.registry import Registry


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[Sequence[Any], Sequence[Any]], float]  # (predictions, references) -> score
    higher_is_better: bool = True
    # Per-example scores in [0, 1] whose mean is the metric; None for corpus-level metrics (macro-F1).
    per_example: Callable[[Sequence[Any], Sequence[Any]], np.ndarray] | None = None
    binary: bool = False  # per-example scores are 0/1 correctness: McNemar and discordant-pair intervals apply
    bounded: bool = True  # scores live in [0, 1]

    def __call__(self, predictions: Sequence[Any], references: Sequence[Any]) -> float:
        return float(self.compute(predictions, references))


METRICS: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    return METRICS.register(metric.name, metric)


def _correct(predictions: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
    return np.array([p == r for p, r in zip(predictions, references, strict=True)], dtype=float)


def _accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    return float(_correct(predictions, references).mean()) if len(references) else float("nan")


def _macro_f1(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    from sklearn.metrics import f1_score

    labels = sorted({str(r) for r in references})
    return float(f1_score([str(r) for r in references], [str(p) for p in predictions],
                          labels=labels, average="macro", zero_division=0))


register_metric(Metric("accuracy", _accuracy, per_example=_correct, binary=True))
register_metric(Metric("exact_match", _accuracy, per_example=_correct, binary=True))
register_metric(Metric("macro_f1", _macro_f1))
