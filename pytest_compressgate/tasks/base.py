"""What a task type is: how it loads examples, runs a model over them, and which metrics apply."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from compressors.errors import ConfigError
from compressors.registry import Registry

from .metrics import METRICS, Metric

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    import numpy as np

Progress = Callable[[int], None]  # called with the number of examples just finished
# Which examples to score, by position: a list, or the NumPy array of one bootstrap resample
Index: TypeAlias = "Sequence[int] | np.ndarray"


@dataclass
class Examples:
    inputs: list[Any]
    references: list[Any]

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, indices: Sequence[int]) -> Examples:
        """The examples at ``indices``; fields a subclass adds (a retrieval corpus) are kept whole."""
        return dataclasses.replace(self, inputs=[self.inputs[i] for i in indices],
                                   references=[self.references[i] for i in indices])


@dataclass
class Predictions:
    """Per-example predictions (JSON-able), kept so comparisons are paired and cacheable."""

    values: list[Any]
    nonfinite: int = 0  # examples whose model outputs held NaN or infinity
    extra: dict[str, Any] = field(default_factory=dict)

    def take(self, indices: Sequence[int]) -> Predictions:
        """The predictions at ``indices``; per-example lists in ``extra`` are subset alongside."""
        n = len(self.values)
        extra = {k: [v[i] for i in indices] if isinstance(v, list) and len(v) == n else v
                 for k, v in self.extra.items()}
        return Predictions([self.values[i] for i in indices], nonfinite=self.nonfinite, extra=extra)

    @classmethod
    def concat(cls, parts: Sequence[Predictions]) -> Predictions:
        extra: dict[str, Any] = {}
        for part in parts:
            for k, v in part.extra.items():
                extra[k] = extra.get(k, []) + v if isinstance(v, list) else v
        return cls([v for p in parts for v in p.values], nonfinite=sum(p.nonfinite for p in parts), extra=extra)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Predictions:
        return cls(**data)


@dataclass
class LoadedModel:
    """A model ready for inference (transformers or an optimum ORTModel, which share the call API).

    Call it, or its ``generate``, with CPU tensors from the tokenizer: inputs go to the model's device
    (a GPU for a CUDA target) and outputs come back on CPU, so task code never handles devices.
    """

    model: Any
    tokenizer: Any
    label: str  # "source" or a target/stage name, for messages
    path: str = ""

    @property
    def device(self) -> str:
        return str(getattr(self.model, "device", "cpu"))

    def __call__(self, **inputs: Any) -> Any:
        return _to_cpu(self.model(**_to_device(inputs, self.device)))

    def generate(self, **inputs: Any) -> Any:
        return _to_cpu(self.model.generate(**_to_device(inputs, self.device)))


@dataclass
class SourceAccess:
    """The source model for a task type's setup step, loaded on first use, and one session's setup results
    (``memo``), so tasks that share a setup run it once."""

    load: Callable[[], LoadedModel]
    memo: dict[Any, Any] = field(default_factory=dict)


def _to_device(inputs: dict[str, Any], device: str) -> dict[str, Any]:
    if device == "cpu":
        return inputs
    return {k: v.to(device) if hasattr(v, "to") and hasattr(v, "device") else v for k, v in inputs.items()}


def _to_cpu(out: Any) -> Any:
    if hasattr(out, "cpu") and hasattr(out, "device"):
        return out.cpu()
    if isinstance(out, dict):  # transformers' ModelOutput is a dict whose items are also attributes
        for k, v in out.items():
            if hasattr(v, "cpu") and hasattr(v, "device"):
                out[k] = v.cpu()
    return out


class TaskType:
    name: ClassVar[str]
    options_cls: ClassVar[type[DataclassInstance]]
    default_metric: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    model_task: ClassVar[str]  # which model class serves it (see compressors.modelio.TASK_CLASSES)
    other_model_tasks: ClassVar[tuple[str, ...]] = ()  # other model tasks whose classes serve it too
    examples_cls: ClassVar[type[Examples]] = Examples  # what load() returns; rebuilt from the JSON cache
    # Bump when predict() changes what it returns for the same model and examples: the version is in the
    # predictions' cache key, so predictions made by the older code are redone.
    version: ClassVar[int] = 1

    @classmethod
    def source_tasks(cls) -> list[str]:
        """The ``source.task`` values whose model class this task type can score (all for ``any``)."""
        from compressors.model_classes import TASK_CLASSES

        if cls.model_task == "any":
            return sorted(TASK_CLASSES)
        wanted = {TASK_CLASSES[t][0] for t in (cls.model_task, *cls.other_model_tasks)}
        return sorted(t for t, (auto, _) in TASK_CLASSES.items() if auto in wanted)

    @classmethod
    def options_fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls.options_cls)]

    @classmethod
    def check_metric(cls, metric: str, where: str) -> None:
        if metric not in cls.metrics:
            raise ConfigError(
                f"{where} = {metric!r} does not apply to {cls.name} tasks; use one of {', '.join(cls.metrics)}"
            )
        METRICS.get(metric)  # registered, or an error listing what is

    @classmethod
    def check_task(cls, metric: str, options: Any, where: str) -> None:
        """Checks across the metric and the options, when the config loads (ConfigError naming the key)."""

    def metric(self, name: str) -> Metric:
        return METRICS.get(name)

    def key_parts(self, options: Any, where: str = "task") -> dict[str, Any]:
        """What else can change this type's predictions, for the examples' cache key (a custom scorer's
        source code); the built-in types have none beyond the data and the options."""
        return {}

    def prepare(self, options: Any, source: SourceAccess) -> Any:
        """The options ``predict`` receives; called once per session, only when predictions must be computed
        (a custom task's setup step fits its probe on the source model here)."""
        return options

    def timing_texts(self, examples: Examples, options: Any) -> list[str]:
        """Texts to time the models on: the inputs, where they are plain strings."""
        return list(examples.inputs) if examples.inputs and isinstance(examples.inputs[0], str) else []

    def no_timing_reason(self, options: Any) -> str:
        return f"{self.name} inputs are not plain texts"

    def load(self, data: str, options: Any, *, split: str, max_examples: int | None, where: str) -> Examples:
        raise NotImplementedError

    def predict(self, model: LoadedModel, examples: Examples, options: Any, *, batch_size: int,
                progress: Progress | None = None) -> Predictions:
        raise NotImplementedError

    def score(self, metric: Metric, predictions: Predictions, examples: Examples, index: Index | None = None) -> float:
        values, refs = predictions.values, examples.references
        if index is not None:
            values, refs = [values[i] for i in index], [refs[i] for i in index]
        return metric(values, refs)

    def per_example(self, metric: Metric, predictions: Predictions, examples: Examples):
        """Per-example scores whose mean is the metric, or None for corpus-level metrics."""
        if metric.per_example is None:
            return None
        return metric.per_example(predictions.values, examples.references)

    def collapse(self, predictions: Predictions, examples: Examples) -> str | None:
        """A sentence when the model's outputs show a silent collapse, else None."""
        if predictions.nonfinite:
            return f"{predictions.nonfinite} of {len(examples)} examples gave NaN or infinite outputs"
        return None


def _adopt_task_type(loaded: Any) -> TaskType:
    """An entry point's task type: a TaskType subclass (instantiated) or an instance."""
    if isinstance(loaded, type) and issubclass(loaded, TaskType):
        return loaded()
    if isinstance(loaded, TaskType):
        return loaded
    raise TypeError(f"expected a TaskType subclass, got {type(loaded).__name__}")


def _builtin_task_types() -> None:
    import importlib

    importlib.import_module("pytest_compressgate.tasks")  # registers the built-in types and metrics


# Installed packages add task types through the ``pytest_compressgate.task_types`` entry-point group.
TASK_TYPES: Registry[TaskType] = Registry("task type", group="pytest_compressgate.task_types",
                                          builtins=_builtin_task_types, adopt=_adopt_task_type)


def register_task_type(task_type: type[TaskType]) -> type[TaskType]:
    TASK_TYPES.register(task_type.name, task_type())
    return task_type


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
