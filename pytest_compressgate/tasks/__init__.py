"""Task types, data loading and the metrics registry."""

from __future__ import annotations

from . import classification  # noqa: F401  (registers the built-in task types)
from .base import TASK_TYPES, Examples, LoadedModel, Predictions, TaskType, register_task_type
from .metrics import METRICS, Metric, register_metric

__all__ = [
    "METRICS", "TASK_TYPES", "Examples", "LoadedModel", "Metric", "Predictions", "TaskType",
    "register_metric", "register_task_type",
]
