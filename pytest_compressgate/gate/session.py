"""The gate's session: one object for a pytest session (in ``config.stash``) or one CLI command.

It knows nothing of pytest: the plugin hands it a config, options and a callback for status lines. It
wires the four roles together and answers for them:

- ``Builder`` (builder.py): the source model and each target's artifacts, stage by stage;
- ``Scorer`` (scorer.py): examples, loaded models and per-example predictions;
- ``Timer`` (timing.py): sizes and speed beside the source;
- ``Judge`` (judge.py): one ``GateResult`` per stage, its named checks settled into the verdict.

Everything expensive goes through the content-keyed cache (``cache/``), so a warm session only reads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressors.base import Artifact

from ..cache import CacheStore, library_versions
from ..cache.gate_keys import GateKeys
from ..config import GateConfig, TargetConfig, TaskConfig
from ..performance import Performance
from ..result import GateResult
from ..tasks import Examples, LoadedModel, Predictions
from ..tasks.base import Index
from .builder import Builder, BuiltTarget
from .judge import Judge
from .scorer import Scorer
from .timing import Timer

if TYPE_CHECKING:
    from ..registry import BuiltStage


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


class GateSession:
    def __init__(self, config: GateConfig, options: GateOptions | None = None, *,
                 say: Callable[[str], None] = lambda line: None,
                 build_source: Callable[[GateConfig], str | None] | None = None) -> None:
        self.config, self.options = config, options or GateOptions()
        self.say = say  # status lines; callers may replace it (the CLI shows them in a spinner)
        self.cache = CacheStore(config.cache_dir)
        self.keys = GateKeys(config, library_versions())
        rebuild = self.options.rebuild

        def relay(line: str) -> None:
            self.say(line)

        self.builder = Builder(config, self.cache, self.keys, rebuild=rebuild, say=relay, build_source=build_source)
        self.scorer = Scorer(config, self.cache, self.keys, self.builder, rebuild=rebuild, say=relay)
        self.timer = Timer(self.cache, self.keys, self.builder, self.scorer, rebuild=rebuild, say=relay)
        self.judge = Judge(config, self.builder, self.scorer, self.timer, early_stop=self.options.early_stop,
                           require_hardware=self.options.require_hardware, baseline=self.options.baseline,
                           baseline_rows=lambda: self.baseline_rows)

    @property
    def target_names(self) -> tuple[str, ...]:
        """The targets this run gates: those ``--compress-gate-targets`` names, else every declared one."""
        return self.options.targets or tuple(self.config.targets)

    # -- the builder's ------------------------------------------------------------------------

    @property
    def source_dir(self) -> Path:
        return self.builder.source_dir

    @property
    def source_key(self) -> str:
        return self.builder.source_key

    def target(self, name: str) -> TargetConfig:
        return self.builder.target(name)

    def build(self, name: str) -> BuiltTarget:
        return self.builder.build(name)

    @property
    def built_targets(self) -> dict[str, BuiltTarget]:
        return self.builder.built_targets

    def artifact(self, target_name: str) -> Artifact:
        """The final artifact of a target's recipe (built or taken from the cache)."""
        return self.builder.build(target_name).final.artifact

    # -- the scorer's -------------------------------------------------------------------------

    @property
    def source_device(self) -> str:
        return self.scorer.source_device

    def task(self, name: str) -> TaskConfig:
        return self.scorer.task(name)

    def examples(self, task_name: str) -> Examples:
        return self.scorer.examples(task_name)

    def load(self, path: Path, label: str, device: str = "cpu") -> LoadedModel:
        return self.scorer.load(path, label, device)

    def device(self, target_name: str) -> str:
        return self.scorer.device(target_name)

    def hardware_skip_reason(self, target_name: str) -> str | None:
        return self.scorer.hardware_skip_reason(target_name)

    def predictions(self, task_name: str, model_key: str, model_dir: Path, label: str,
                    indices: Index | None = None, device: str = "cpu") -> Predictions:
        return self.scorer.predictions(task_name, model_key, model_dir, label, indices, device)

    def source_predictions(self, task_name: str, indices: Sequence[int] | None = None) -> Predictions:
        return self.scorer.source_predictions(task_name, indices)

    def compressed_model(self, target_name: str) -> LoadedModel:
        return self.scorer.load(self.artifact(target_name).path, target_name, self.scorer.device(target_name))

    def evaluate(self, task_name: str, model: str = "source") -> float:
        """The task's metric for ``"source"`` or a target's final model."""
        return self.scorer.evaluate(task_name, model)

    # -- the timer's and the judge's ----------------------------------------------------------

    def performance(self, target_name: str) -> Performance:
        return self.timer.performance(target_name)

    def compare(self, task_name: str, target_name: str) -> GateResult:
        """Every stage of the target judged on the task; the final stage's result is the verdict."""
        return self.judge.compare(task_name, target_name)

    def comparisons_for(self, task_name: str, target_name: str) -> list[GateResult]:
        """Each stage's result, in recipe order; the last one is the verdict."""
        return self.judge.results_for(task_name, target_name)

    @property
    def comparisons(self) -> list[GateResult]:
        """Every result judged so far in this session (every stage's)."""
        return self.judge.results

    def built_stages(self) -> list[BuiltStage]:
        """Every stage of every target built or judged so far, as the registry records it."""
        from ..registry import BuiltStage

        judged = {r.target for r in self.comparisons}
        names = [*self.built_targets, *sorted(judged - set(self.built_targets))]
        stages = []
        for name in names:
            target, config = self.build(name), self.target(name)
            recipe = tuple(dict(step.table) for step in config.recipe)
            for stage in target.stages:
                parent = target.stages[stage.index - 1].key if stage.index else self.source_key
                stages.append(BuiltStage(
                    key=stage.key, target=name, index=stage.index, method=stage.method,
                    manifest=stage.artifact.manifest, path=str(stage.artifact.path),
                    parent_key=stage.artifact.manifest.get("source", {}).get("key") or parent,
                    source_key=self.source_key, recipe=recipe, hardware=config.hardware,
                    gated=target.gated(stage, config),
                    final=stage is target.final))
        return stages

    @functools.cached_property
    def baseline_rows(self) -> list[Any]:
        """The rows of the baseline given with --compress-gate-baseline (read once per process)."""
        from ..report.baseline import load_baseline

        if not self.options.baseline or self.options.baseline_path is None:
            return []
        return load_baseline(self.options.baseline, self.options.baseline_path)

    def close(self) -> None:
        self.scorer.close()
