"""The gate's session: builds artifacts, scores models and compares them, all through the cache.

One ``GateSession`` lives for a pytest session (in ``config.stash``) or for one CLI command. It knows
nothing of pytest: the plugin hands it a config, options and a callback for status lines.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressors.base import Artifact, Context, ModelFormat, compress, parse_step

from .cache import CacheStore, hash_path, library_versions, make_key
from .cache.documents import examples_problem, predictions_problem, timings_problem
from .cache.gate_keys import GateKeys
from .config import ConfigError, GateConfig, TargetConfig, TaskConfig
from .gpus import physical_device
from .performance import SPEED_METHOD, Performance, UnreliableTiming, check_gates, measure_sizes, measure_timings
from .tasks import TASK_TYPES, Examples, LoadedModel, Predictions
from .tasks.base import Index, SourceAccess

if TYPE_CHECKING:
    from .verdict import Comparison


@dataclass(frozen=True)
class GateOptions:
    enabled: bool = False
    targets: tuple[str, ...] | None = None  # None: every declared target
    rebuild: bool = False
    early_stop: bool = False
    require_hardware: bool = False
    report_dir: Path | None = None
    baseline: str | None = None  # a name or a .json path (see report/baseline.py)
    baseline_path: Path | None = None  # where that baseline is
    save_baseline: str | None = None


@dataclass
class Stage:
    """One step of a target's recipe, built and cached."""

    index: int
    method: str
    key: str
    artifact: Artifact
    cache_hit: bool

    @property
    def name(self) -> str:
        return f"{self.index}-{self.method}"


@dataclass
class BuiltTarget:
    name: str
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


@dataclass
class GateSession:
    config: GateConfig
    options: GateOptions = field(default_factory=GateOptions)
    say: Callable[[str], None] = lambda line: None
    build_source: Callable[[GateConfig], str | None] | None = None
    comparisons: list[Comparison] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cache = CacheStore(self.config.cache_dir)
        self._source_dir: Path | None = None
        self._built: dict[str, BuiltTarget] = {}
        self._examples: dict[str, Examples] = {}
        self._predictions: dict[tuple, Predictions] = {}
        self._scored_on: dict[str, str] = {}  # model key -> the device its predictions really ran on
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._performance: dict[str, Performance] = {}
        self._compared: dict[tuple[str, str], list[Comparison]] = {}
        self._versions = library_versions()
        self.keys = GateKeys(self.config, self._versions)
        self._source_access = SourceAccess(lambda: self.load(self.source_dir, "source", self.source_device))
        self._prepared: dict[str, Any] = {}  # task -> the options its predict() gets (after a setup step)
        self._speed_note: str | None = None

    # -- the source model -------------------------------------------------------------------

    @property
    def source_dir(self) -> Path:
        """The source model as a local directory (built by a conftest hook, local, or from the hub)."""
        if self._source_dir is None:
            built = self.build_source(self.config) if self.build_source else None
            name = built or self.config.source.model
            self._source_dir = self._find_source(name)
        return self._source_dir

    def _find_source(self, name: str) -> Path:
        """A local directory, or a hub id fetched (or found in the local hub cache); anything else is a
        ConfigError naming ``source.model``. A local-looking path that does not exist is never sent to the hub."""
        from .preflight import looks_local

        local = Path(self.config.resolve(name))
        if local.is_dir():
            return local
        if local.exists() or looks_local(name, self.config.root):
            raise ConfigError(f"source.model = {name!r}: no such directory ({self.config.root / name}); give a "
                              "saved model's folder (relative to the config file) or a hub id such as 'org/name'")
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(name, revision=self.config.source.revision))
        except Exception as exc:  # the hub client raises a dozen types; what it says is what matters
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ConfigError(f"source.model = {name!r}: not a directory beside the config ({self.config.root}) "
                              f"and not a model the hub gives ({type(exc).__name__}: {first})") from None

    @property
    def source_key(self) -> str:
        return make_key(kind="source", weights=hash_path(self.source_dir, memo=self.cache.root / "digests.json"))

    @property
    def model_task(self) -> str:
        return self.config.source.task

    # -- artifacts --------------------------------------------------------------------------

    def target(self, name: str) -> TargetConfig:
        if name not in self.config.targets:
            raise KeyError(f"no target {name!r}; declared: {', '.join(self.config.targets)}")
        return self.config.targets[name]

    def build(self, name: str) -> BuiltTarget:
        """Every stage of target ``name``'s recipe, each built once and cached by content."""
        if name in self._built:
            return self._built[name]
        target = self.target(name)
        parent_key, parent_dir, fmt = self.source_key, self.source_dir, ModelFormat.TRANSFORMERS
        stages = []
        for index, raw_step in enumerate(target.recipe):
            where = f"targets.{name}.recipe[{index}]"
            method, step_config = parse_step(self.keys.resolve_files(raw_step), where)
            key = self.keys.stage(parent_key, target, raw_step, index)
            context = Context(task=self.model_task, source_format=fmt, hardware=target.hardware, seed=self.config.seed,
                              trust_remote_code=self.config.source.trust_remote_code)
            source_info = {"key": parent_key, "path": str(parent_dir)}

            building = f"compressgate: building {name} stage {index} ({method.name})"

            def run(tmp: Path, step=step_config, src=parent_dir, ctx=context, info=source_info,
                    message=building) -> None:
                self.say(message)
                compress(src, step, tmp, context=ctx, source_info=info)

            path, hit = self.cache.get_or_build("artifacts", key, run, rebuild=self.options.rebuild)
            artifact = Artifact.load(path)
            stages.append(Stage(index, method.name, key, artifact, hit))
            parent_key, parent_dir, fmt = key, path, artifact.format
        self._built[name] = BuiltTarget(name, stages)
        return self._built[name]

    @property
    def built_targets(self) -> dict[str, BuiltTarget]:
        """The targets built (or found in the cache) so far in this session."""
        return dict(self._built)

    # -- scoring ----------------------------------------------------------------------------

    def task(self, name: str) -> TaskConfig:
        if name not in self.config.tasks:
            raise KeyError(f"no task {name!r}; declared: {', '.join(self.config.tasks)}")
        return self.config.tasks[name]

    def examples(self, task_name: str) -> Examples:
        """The task's examples, read through ``datasets`` once and cached as JSON by the data's bytes."""
        if task_name not in self._examples:
            task = self.task(task_name)

            task_type = TASK_TYPES.get(task.type)

            def run() -> dict[str, Any]:
                examples = task_type.load(
                    self.config.resolve(task.data), self._option_files(task)[0], split=task.split,
                    max_examples=task.max_examples, where=f"tasks.{task_name}",
                )
                if not len(examples):
                    raise ConfigError(f"tasks.{task_name}.data = {task.data!r}: no examples to score")
                return dataclasses.asdict(examples)  # every field: a retrieval task's corpus too

            data, _ = self.cache.get_or_build_json("examples", self._data_key(task), run,
                                                   rebuild=self.options.rebuild,
                                                   check=lambda d: examples_problem(d, task_type.examples_cls))
            self._examples[task_name] = task_type.examples_cls(**data)
        return self._examples[task_name]

    def _data_key(self, task: TaskConfig) -> str:
        return self.keys.examples(task)

    def _option_files(self, task: TaskConfig) -> tuple[Any, dict[str, Any]]:
        return self.keys.option_files(task)

    def _prepared_options(self, task_name: str) -> Any:
        """The options ``predict`` gets: after the task type's setup step (once per session, only when
        predictions must be computed, so a warm run loads no model for it)."""
        if task_name not in self._prepared:
            task = self.task(task_name)
            options = self._option_files(task)[0]
            self._prepared[task_name] = TASK_TYPES.get(task.type).prepare(options, self._source_access)
        return self._prepared[task_name]

    def load(self, path: Path, label: str, device: str = "cpu") -> LoadedModel:
        from compressors.loaders import load_model, load_tokenizer

        key = (str(path), device)
        if key not in self._loaded:
            trust = self.config.source.trust_remote_code
            model = load_model(path, task=self.model_task, trust_remote_code=trust, device=device)
            self._loaded[key] = LoadedModel(model, load_tokenizer(path, trust_remote_code=trust), label, str(path))
        loaded = self._loaded[key]  # loaded once; the label is the caller's (a stage's, or the target's name)
        return loaded if loaded.label == label else dataclasses.replace(loaded, label=label)

    def device(self, target_name: str) -> str:
        """Where a target's artifacts run: its GPU for a CUDA target on a machine that has one, else CPU.
        The source, the reference every target is compared with, is scored where source.device says."""
        from .targets import PRESETS, detect_machine

        preset = PRESETS.get(self.target(target_name).hardware)
        return "cuda" if preset.cuda and not preset.missing(detect_machine()) else "cpu"

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
            options = self._prepared_options(task_name)
            predictions = task_type.predict(model, examples, options, batch_size=task.batch_size)
            # where it really ran: some formats have CPU kernels only
            predictions.extra["device"] = physical_device(model.device)
            return predictions.to_json()

        n = len(subset) if subset is not None else len(self.examples(task_name))
        data, _ = self.cache.get_or_build_json("predictions", key, run, rebuild=self.options.rebuild,
                                               check=lambda d: predictions_problem(d, n))
        self._predictions[memo] = Predictions.from_json(data)
        self._scored_on[model_key] = self._predictions[memo].extra.get("device", device)
        return self._predictions[memo]

    @functools.cached_property
    def baseline_rows(self) -> list[dict[str, Any]]:
        """The rows of the baseline given with --compress-gate-baseline (read once per process)."""
        from .report.baseline import load_baseline

        if not self.options.baseline or self.options.baseline_path is None:
            return []
        return load_baseline(self.options.baseline, self.options.baseline_path)

    @property
    def source_device(self) -> str:
        return self.config.source.device.value

    def source_predictions(self, task_name: str, indices: Sequence[int] | None = None) -> Predictions:
        return self.predictions(task_name, self.source_key, self.source_dir, "source", indices, self.source_device)

    def compare(self, task_name: str, target_name: str) -> Comparison:
        """Score every stage of the target on the task; the final stage's comparison is the verdict."""
        memo = (task_name, target_name)
        if memo not in self._compared:
            family = list(self.config.tasks) if self.config.holm else [task_name]  # Holm needs every task first
            for name in family:
                if (name, target_name) not in self._compared:
                    self._compared[(name, target_name)] = self._compare_stages(name, target_name)
                    self.comparisons.extend(self._compared[(name, target_name)])
            if self.config.holm:
                from .verdict import apply_holm

                apply_holm([self._compared[(n, target_name)][-1] for n in family], family_size=len(family))
        return self._compared[memo][-1]

    def comparisons_for(self, task_name: str, target_name: str) -> list[Comparison]:
        """Each stage's comparison, in recipe order; the last one is the verdict."""
        self.compare(task_name, target_name)
        return self._compared[(task_name, target_name)]

    def _compare_stages(self, task_name: str, target_name: str) -> list[Comparison]:
        from .early_stop import compare_early_stop  # statistics (scipy) load only when something is compared
        from .report.baseline import check_increase
        from .verdict import compare

        built, task, target = self.build(target_name), self.task(task_name), self.target(target_name)
        task_type = TASK_TYPES.get(task.type)
        metric = task_type.metric(task.metric or task_type.default_metric)
        early = self.options.early_stop and metric.per_example is not None and metric.bounded
        device = self.device(target_name)
        results = []
        for stage in built.stages:
            is_final = stage is built.final
            label = f"{target_name}/{stage.name}"
            common: dict[str, Any] = dict(
                task_name=task_name, target=target_name, task_type=task_type, metric=metric,
                examples=self.examples(task_name), source=self.source_predictions(task_name), seed=self.config.seed,
                thresholds=dataclasses.replace(task.thresholds_for(target_name),
                                               **target.stage_thresholds.get(stage.index, {})),
                stage=None if is_final else stage.name, gated=is_final or stage.index in target.stage_thresholds,
            )
            if early:
                if self.config.holm:  # Bonferroni share of the family's error: valid at any stopping look
                    confidence = 1 - (1 - common["thresholds"].confidence) / len(self.config.tasks)
                    common["thresholds"] = dataclasses.replace(common["thresholds"], confidence=confidence)

                def predict(chunk: Index, s: Stage = stage, lb: str = label) -> Predictions:
                    return self.predictions(task_name, s.key, s.artifact.path, lb, chunk, device)

                comparison = compare_early_stop(**common, batch_size=task.batch_size, predict=predict)
            else:
                comparison = compare(**common, compressed=self.predictions(task_name, stage.key, stage.artifact.path,
                                                                           label, device=device))
            comparison.keys.update(source=self.source_key, examples=self._data_key(task), artifact=stage.key)
            if common["gated"]:
                check_increase(comparison, self.baseline_rows, self.options.baseline,
                               common["thresholds"].max_drop_increase)
            comparison.performance.update(artifact_bytes=stage.artifact.manifest.get("bytes_on_disk"),
                                          stats=stage.artifact.stats, cache_hit=stage.cache_hit,
                                          device=self._scored_on.get(stage.key, device),
                                          source_device=self._scored_on.get(self.source_key, self.source_device))
            results.append(comparison)
        self._gate_performance(target, results[-1])
        failed_stages = [c.stage for c in results[:-1] if not c.passed and c.stage is not None]
        if failed_stages:
            results[-1].fail(f"stage(s) {', '.join(failed_stages)} failed their own threshold")
        return results

    # -- size and speed ---------------------------------------------------------------------

    def performance(self, target_name: str) -> Performance:
        """Sizes always; speed beside the source, cached per artifact and per machine (timings are local)."""
        if target_name in self._performance:
            return self._performance[target_name]
        from .targets import detect_machine

        final = self.build(target_name).final
        perf = measure_sizes(self.source_dir, final.artifact.path, final.artifact.stats)
        texts = self._timing_texts()
        if texts:
            key = self.keys.speed(artifact_key=final.key, source_key=self.source_key, method=SPEED_METHOD,
                                  machine=dataclasses.asdict(detect_machine()), texts=texts)

            def run() -> dict[str, Any]:
                self.say(f"compressgate: timing {target_name} beside the source")
                device = self.device(target_name)  # the source is timed on the target's device too
                source = self.load(self.source_dir, "source", device)
                compressed = self.load(final.artifact.path, target_name, device)
                timings = measure_timings(source, compressed, texts)
                timings["devices"] = {"source": physical_device(source.device),
                                      "compressed": physical_device(compressed.device)}
                if timings["unreliable"]:
                    raise UnreliableTiming(timings)  # reported, never cached as fact
                return timings

            try:
                timings, _ = self.cache.get_or_build_json("speed", key, run, rebuild=self.options.rebuild,
                                                          check=timings_problem)
            except UnreliableTiming as exc:
                timings = exc.timings
            perf.set_timings(timings)
        self._performance[target_name] = perf
        return perf

    def _timing_texts(self) -> list[str]:
        """The first task's texts that the models can be timed on; otherwise why speed is not measured."""
        reasons = []
        for name, task in self.config.tasks.items():
            task_type = TASK_TYPES.get(task.type)
            texts = task_type.timing_texts(self.examples(name), task.options)
            if texts:
                return texts[:64]
            reasons.append(f"tasks.{name}: {task_type.no_timing_reason(task.options)}")
        self._speed_note = "speed not measured: " + "; ".join(reasons)
        return []

    def _gate_performance(self, target: TargetConfig, comparison: Comparison) -> None:
        from .targets import PRESETS, detect_machine

        perf = self.performance(target.name)
        missing = PRESETS.get(target.hardware).missing(detect_machine())
        perf.off_target = "; ".join(missing) if missing and perf.source is not None else None
        comparison.performance.update(perf.to_json())
        if perf.source is None and self._speed_note:
            comparison.warnings.append(self._speed_note)
        if perf.speed_caveat:
            comparison.warnings.append(f"speedup {perf.speedup:.2f}x: {perf.speed_caveat}")
        representative = f"this machine lacks {'; '.join(missing)}" if missing else None
        failures, notes = check_gates(perf, min_size_ratio=target.min_size_ratio, min_speedup=target.min_speedup,
                                      max_latency_ms=target.max_latency_ms, speed_representative=representative)
        if self.options.require_hardware:
            failures += [f"{note} (--compress-gate-require-hardware is set)" for note in notes]
        else:
            comparison.warnings.extend(notes)
        for failure in failures:
            comparison.fail(failure)

    # -- fixtures' helpers ------------------------------------------------------------------

    def artifact(self, target_name: str) -> Artifact:
        """The final artifact of a target's recipe (built or taken from the cache)."""
        return self.build(target_name).final.artifact

    def compressed_model(self, target_name: str) -> LoadedModel:
        return self.load(self.artifact(target_name).path, target_name, self.device(target_name))

    def evaluate(self, task_name: str, model: str = "source") -> float:
        """The task's metric for ``"source"`` or a target's final model."""
        task = self.task(task_name)
        task_type = TASK_TYPES.get(task.type)
        metric = task_type.metric(task.metric or task_type.default_metric)
        if model == "source":
            predictions = self.source_predictions(task_name)
        else:
            final = self.build(model).final
            predictions = self.predictions(task_name, final.key, final.artifact.path, model,
                                           device=self.device(model))
        return task_type.score(metric, predictions, self.examples(task_name))

    def hardware_skip_reason(self, target_name: str) -> str | None:
        """Why this machine cannot score the target, or None. CPU presets run everywhere (slower)."""
        from .targets import PRESETS, detect_machine

        machine = detect_machine()
        no_gpu = PRESETS.get("cuda").missing(machine)
        if self.source_device != "cpu" and no_gpu:
            return (f"source.device = {self.source_device!r} scores the source on a GPU: this machine lacks "
                    f"{'; '.join(no_gpu)}")
        preset = PRESETS.get(self.target(target_name).hardware)
        missing = preset.missing(machine)
        if not missing or not preset.cuda:
            return None
        return f"scoring target {target_name!r} needs {preset.name}: this machine lacks {'; '.join(missing)}"

    def close(self) -> None:
        self._loaded.clear()
