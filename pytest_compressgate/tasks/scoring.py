"""Scoring shared by the task types: per-example scores kept with the predictions, task-specific metrics.

The paired bootstrap calls ``score(..., index=...)`` about two thousand times per comparison. Recomputing
ROUGE-L or SQuAD F1 on every resample would cost minutes, so ``predict`` stores each per-example metric's
scores in ``Predictions.extra["per_example"]`` (JSON, cached with the predictions) and a resample is a mean
over stored numbers. Predictions made by hand, without that entry, are scored from their values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .base import Examples, Index, Predictions, TaskType
from .metrics import METRICS, Metric

PER_EXAMPLE = "per_example"


class StoredScoresTask(TaskType):
    """A task type whose per-example metrics are computed once, at predict time."""

    # Metrics whose meaning is specific to this task type, under a shared registered name ("exact_match").
    own_metrics: ClassVar[Mapping[str, Metric]] = {}

    def metric(self, name: str) -> Metric:
        return self.own_metrics.get(name) or METRICS.get(name)

    def resolve(self, metric: Metric) -> Metric:
        return self.own_metrics.get(metric.name, metric)

    def stored_scores(self, values: Sequence[Any], references: Sequence[Any]) -> dict[str, list[float]]:
        """Per-example scores of every per-example metric this type allows, for ``Predictions.extra``."""
        stored = {}
        for name in self.metrics:
            metric = self.metric(name)
            if metric.per_example is not None:
                stored[name] = [float(s) for s in metric.per_example(values, references)]
        return stored

    def per_example(self, metric: Metric, predictions: Predictions, examples: Examples):
        metric = self.resolve(metric)
        if metric.per_example is None:
            return None
        stored = predictions.extra.get(PER_EXAMPLE, {}).get(metric.name)
        if stored is not None and len(stored) == len(predictions.values):
            return np.asarray(stored, dtype=float)
        return np.asarray(metric.per_example(predictions.values, examples.references), dtype=float)

    def score(self, metric: Metric, predictions: Predictions, examples: Examples,
              index: Index | None = None) -> float:
        metric = self.resolve(metric)
        if metric.per_example is None:
            return self.corpus_score(metric, predictions, examples, index)
        scores = self.per_example(metric, predictions, examples)
        if index is not None:
            scores = scores[np.asarray(index, dtype=int)]
        return float(scores.mean()) if len(scores) else float("nan")

    def corpus_score(self, metric: Metric, predictions: Predictions, examples: Examples,
                     index: Index | None) -> float:
        """A corpus-level metric, recomputed on the resampled examples when ``index`` is given."""
        values, refs = predictions.values, examples.references
        if index is not None:
            values, refs = [values[i] for i in index], [refs[i] for i in index]
        return metric(values, refs)


def nonfinite_rows(tensor) -> Any:
    """A bool per row (first dimension): does it hold NaN or infinity anywhere?"""
    import torch

    flat = torch.as_tensor(tensor).float().reshape(tensor.shape[0], -1)
    return (~torch.isfinite(flat)).any(dim=-1)


def require_positive(options: Any, *names: str) -> None:
    """For an options dataclass's ``__post_init__``: each named field is an integer >= 1."""
    for name in names:
        value = getattr(options, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} = {value} is invalid: expected an integer >= 1")
