"""Task types, data loading and the metrics registry."""

from __future__ import annotations

from . import classification  # noqa: F401  (registers the built-in task types)
from . import token_classification  # noqa: F401
from . import question_answering  # noqa: F401
from . import generation  # noqa: F401
from . import perplexity  # noqa: F401
from . import embeddings  # noqa: F401
from . import retrieval  # noqa: F401
from . import custom  # noqa: F401
from .base import TASK_TYPES, Examples, LoadedModel, Predictions, TaskType, register_task_type
from .metrics import METRICS, Metric, register_metric

__all__ = [
    "METRICS", "TASK_TYPES", "Examples", "LoadedModel", "Metric", "Predictions", "TaskType",
    "register_metric", "register_task_type",
]
