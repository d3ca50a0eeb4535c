"""The scorer: each task's examples, models loaded on their devices, and per-example predictions, all
computed once per session and cached across sessions by content."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..cache import CacheStore, make_key
from ..cache.documents import examples_problem, predictions_problem
from ..cache.gate_keys import GateKeys
from ..config import ConfigError, GateConfig, TaskConfig
from ..gpus import physical_device
from ..tasks import TASK_TYPES, Examples, LoadedModel, Predictions
from ..tasks.base import Index, SourceAccess
from .builder import Builder


class Scorer:
    def __init__(self, config: GateConfig, cache: CacheStore, keys: GateKeys, builder: Builder, *,
                 rebuild: bool = False, say: Callable[[str], None] = lambda line: None) -> None:
        self.config, self.cache, self.keys, self.builder = config, cache, keys, builder
        self.rebuild, self.say = rebuild, say
        self._examples: dict[str, Examples] = {}
        self._predictions: dict[tuple, Predictions] = {}
        self.scored_on: dict[str, str] = {}  # model key -> the device its predictions really ran on
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._prepared: dict[str, Any] = {}  # task -> the options its predict() gets (after a setup step)
        self._source_access = SourceAccess(lambda: self.load(builder.source_dir, "source", self.source_device))

    def task(self, name: str) -> TaskConfig:
        if name not in self.config.tasks:
            raise KeyError(f"no task {name!r}; declared: {', '.join(self.config.tasks)}")
        return self.config.tasks[name]

    # -- examples ----------------------------------------------------------------------------

    def examples(self, task_name: str) -> Examples:
        """The task's examples, read through ``datasets`` once and cached as JSON by the data's bytes."""
        if task_name not in self._examples:
            task = self.task(task_name)
            task_type = TASK_TYPES.get(task.type)

            def run() -> dict[str, Any]:
                examples = task_type.load(
                    self.config.resolve(task.data), task.options, split=task.split,
                    max_examples=task.max_examples, where=f"tasks.{task_name}",
                )
                if not len(examples):
                    raise ConfigError(f"tasks.{task_name}.data = {task.data!r}: no examples to score")
                return dataclasses.asdict(examples)  # every field: a retrieval task's corpus too

            data, _ = self.cache.get_or_build_json("examples", self.keys.examples(task), run, rebuild=self.rebuild,
                                                   check=lambda d: examples_problem(d, task_type.examples_cls))
            self._examples[task_name] = task_type.examples_cls(**data)
        return self._examples[task_name]

    def _prepared_options(self, task_name: str) -> Any:
        """The options ``predict`` gets: after the task type's setup step (once per session, only when
        predictions must be computed, so a warm run loads no model for it)."""
        if task_name not in self._prepared:
            task = self.task(task_name)
            self._prepared[task_name] = TASK_TYPES.get(task.type).prepare(task.options, self._source_access)
        return self._prepared[task_name]

    # -- models and devices ------------------------------------------------------------------

    def load(self, path: Path, label: str, device: str = "cpu") -> LoadedModel:
        from compressors.loaders import load_model, load_tokenizer

        key = (str(path), device)
        if key not in self._loaded:
            trust = self.config.source.trust_remote_code
            model = load_model(path, task=self.config.source.task, trust_remote_code=trust, device=device)
            self._loaded[key] = LoadedModel(model, load_tokenizer(path, trust_remote_code=trust), label, str(path))
        loaded = self._loaded[key]  # loaded once; the label is the caller's (a stage's, or the target's name)
        return loaded if loaded.label == label else dataclasses.replace(loaded, label=label)

    @property
    def source_device(self) -> str:
        return self.config.source.device.value

    def device(self, target_name: str) -> str:
        """Where a target's artifacts run: its GPU for a CUDA target on a machine that has one, else CPU.
        The source, the reference every target is compared with, is scored where source.device says."""
        from ..targets import PRESETS, detect_machine

        preset = PRESETS.get(self.builder.target(target_name).hardware)
        return "cuda" if preset.cuda and not preset.missing(detect_machine()) else "cpu"

    def hardware_skip_reason(self, target_name: str) -> str | None:
        """Why this machine cannot score the target, or None. CPU presets run everywhere (slower)."""
        from ..targets import PRESETS, detect_machine

        machine = detect_machine()
        no_gpu = PRESETS.get("cuda").missing(machine)
        if self.source_device != "cpu" and no_gpu:
            return (f"source.device = {self.source_device!r} scores the source on a GPU: this machine lacks "
                    f"{'; '.join(no_gpu)}")
        preset = PRESETS.get(self.builder.target(target_name).hardware)
        missing = preset.missing(machine)
        if not missing or not preset.cuda:
            return None
        return f"scoring target {target_name!r} needs {preset.name}: this machine lacks {'; '.join(missing)}"

    # -- predictions -------------------------------------------------------------------------

    def predictions(self, task_name: str, model_key: str, model_dir: Path, label: str,
                    indices: Index | None = None, device: str = "cpu") -> Predictions:
        """Per-example predictions of one model on one task (or on the examples at ``indices``): once per
        session, cached across sessions."""
        subset = None if indices is None else [int(i) for i in indices]
        memo = (task_name, model_key, make_key(subset=subset) if subset is not None else None, device)
        if memo in self._predictions:
            return self._predictions[memo]
        task = self.task(task_name)
        key = self.keys.predictions(task, model_key, subset=subset, device=device)

        def run() -> dict[str, Any]:
            examples = self.examples(task_name)
            if subset is not None:
                examples = examples.take(subset)
            self.say(f"compressgate: scoring {task_name} on {label} ({len(examples)} examples)")
            model = self.load(model_dir, label, device)
            task_type = TASK_TYPES.get(task.type)
            predictions = task_type.predict(model, examples, self._prepared_options(task_name),
                                            batch_size=task.batch_size)
            # where it really ran: some formats have CPU kernels only
            predictions.extra["device"] = physical_device(model.device)
            return predictions.to_json()

        n = len(subset) if subset is not None else len(self.examples(task_name))
        data, _ = self.cache.get_or_build_json("predictions", key, run, rebuild=self.rebuild,
                                               check=lambda d: predictions_problem(d, n))
        self._predictions[memo] = Predictions.from_json(data)
        self.scored_on[model_key] = self._predictions[memo].extra.get("device", device)
        return self._predictions[memo]

    def source_predictions(self, task_name: str, indices: Sequence[int] | None = None) -> Predictions:
        builder = self.builder
        return self.predictions(task_name, builder.source_key, builder.source_dir, "source", indices,
                                self.source_device)

    def final_predictions(self, task_name: str, target_name: str) -> Predictions:
        final = self.builder.build(target_name).final
        return self.predictions(task_name, final.key, final.artifact.path, target_name,
                                device=self.device(target_name))

    def evaluate(self, task_name: str, model: str = "source") -> float:
        """The task's metric for ``"source"`` or a target's final model."""
        task = self.task(task_name)
        task_type = TASK_TYPES.get(task.type)
        metric = task_type.metric(task.metric or task_type.default_metric)
        predictions = self.source_predictions(task_name) if model == "source" else \
            self.final_predictions(task_name, model)
        return task_type.score(metric, predictions, self.examples(task_name))

    def close(self) -> None:
        self._loaded.clear()
