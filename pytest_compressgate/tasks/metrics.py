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
    package: str | None = None  # the optional package it imports when it scores (the "metrics" extra has it)

    def __call__(self, predictions: Sequence[Any], references: Sequence[Any]) -> float:
        return float(self.compute(predictions, references))


def _adopt_metric(loaded: Any) -> Metric:
    if not isinstance(loaded, Metric):
        raise TypeError(f"expected a pytest_compressgate.tasks.Metric, got {type(loaded).__name__}")
    return loaded


def _builtin_metrics() -> None:
    import importlib

    importlib.import_module("pytest_compressgate.tasks")  # the task modules register their metrics too


# Installed packages add metrics through the ``pytest_compressgate.metrics`` entry-point group.
METRICS: Registry[Metric] = Registry("metric", group="pytest_compressgate.metrics", builtins=_builtin_metrics,
                                     adopt=_adopt_metric)


def mean_of(per_example: Callable[[Sequence[Any], Sequence[Any]], np.ndarray]):
    """A metric's ``compute`` that is the mean of its per-example scores (NaN with no examples)."""

    def compute(predictions: Sequence[Any], references: Sequence[Any]) -> float:
        scores = per_example(predictions, references)
        return float(scores.mean()) if len(scores) else float("nan")

    return compute


def register_metric(metric: Metric) -> Metric:
    return METRICS.register(metric.name, metric)


def _correct(predictions: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
    return np.array([p == r for p, r in zip(predictions, references, strict=True)], dtype=float)


def _accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    return float(_correct(predictions, references).mean()) if len(references) else float("nan")


def _macro_f1(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Macro-F1 over the classes present in the references (as scikit-learn's ``f1_score`` with those
    labels and zero_division=0), with numpy counts: the paired bootstrap calls it thousands of times."""
    refs = [str(r) for r in references]
    labels = sorted(set(refs))
    if not labels:
        return float("nan")
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    ref_ids = np.fromiter((index[r] for r in refs), dtype=np.int64, count=len(refs))
    pred_ids = np.fromiter((index.get(str(p), k) for p in predictions), dtype=np.int64, count=len(refs))
    hits = ref_ids == pred_ids
    tp = np.bincount(ref_ids[hits], minlength=k)[:k]
    predicted = np.bincount(pred_ids, minlength=k + 1)[:k]
    actual = np.bincount(ref_ids, minlength=k)
    denominator = predicted + actual
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    return float(f1.mean())


register_metric(Metric("accuracy", _accuracy, per_example=_correct, binary=True))
register_metric(Metric("exact_match", _accuracy, per_example=_correct, binary=True))
register_metric(Metric("macro_f1", _macro_f1))
