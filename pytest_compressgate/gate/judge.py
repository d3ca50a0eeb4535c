"""The judge: compares every stage of a target with the source on a task and settles the one verdict.

``verdict.compare`` (or its early-stopping form) gives each stage's statistics and the ``decision``,
``finite``, ``collapse`` and ``floor`` checks; the judge adds the checks that need more than one stage's
predictions: ``baseline`` (the drop's growth since a baseline run), ``size``, ``speed``, ``latency`` and
``hardware`` (the target's performance gates) and ``stages`` (an intermediate stage that failed its own
threshold fails the target). Holm's adjustment across a target's tasks re-makes the ``decision`` check.
Every check goes through ``GateResult.check``, which settles ``passed``; nothing else sets it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..config import GateConfig, TargetConfig, TaskConfig
from ..config.schema import Thresholds
from ..result import GateResult
from ..tasks import TASK_TYPES, Predictions
from ..tasks.base import Index
from .builder import Builder, Stage
from .scorer import Scorer
from .timing import Timer


class Judge:
    def __init__(self, config: GateConfig, builder: Builder, scorer: Scorer, timer: Timer, *,
                 early_stop: bool = False, require_hardware: bool = False, baseline: str | None = None,
                 baseline_rows: Callable[[], list[Any]] = list) -> None:
        self.config, self.builder, self.scorer, self.timer = config, builder, scorer, timer
        self.early_stop, self.require_hardware = early_stop, require_hardware
        self.baseline, self.baseline_rows = baseline, baseline_rows
        self._compared: dict[tuple[str, str], list[GateResult]] = {}
        self.results: list[GateResult] = []  # every stage's result, in the order they were judged

    def compare(self, task_name: str, target_name: str) -> GateResult:
        """Judge every stage of the target on the task; the final stage's result is the verdict."""
        return self.results_for(task_name, target_name)[-1]

    def results_for(self, task_name: str, target_name: str) -> list[GateResult]:
        """Each stage's result, in recipe order; the last one is the verdict."""
        memo = (task_name, target_name)
        if memo not in self._compared:
            family = list(self.config.tasks) if self.config.holm else [task_name]  # Holm needs every task first
            for name in family:
                if (name, target_name) not in self._compared:
                    self._compared[(name, target_name)] = self._judge_stages(name, target_name)
                    self.results.extend(self._compared[(name, target_name)])
            if self.config.holm:
                from ..verdict import apply_holm

                apply_holm([self._compared[(n, target_name)][-1] for n in family], family_size=len(family))
        return self._compared[memo]

    def _judge_stages(self, task_name: str, target_name: str) -> list[GateResult]:
        built = self.builder.build(target_name)
        task, target = self.scorer.task(task_name), self.builder.target(target_name)
        results = []
        for stage in built.stages:
            gated = built.gated(stage, target)
            thresholds = dataclasses.replace(task.thresholds_for(target_name),
                                             **target.stage_thresholds.get(stage.index, {}))
            result = self._compare_stage(task, target, stage, thresholds, final=stage is built.final, gated=gated)
            if gated:
                self._check_baseline(result, thresholds.max_drop_increase)
            results.append(result)
        final = results[-1]
        self._check_performance(target, final)
        failed_stages = [r.stage for r in results[:-1] if not r.passed and r.stage is not None]
        if failed_stages:
            final.check("stages", False, f"stage(s) {', '.join(failed_stages)} failed their own threshold")
        return results

    def _compare_stage(self, task: TaskConfig, target: TargetConfig, stage: Stage, thresholds: Thresholds, *,
                       final: bool, gated: bool) -> GateResult:
        from ..early_stop import compare_early_stop  # statistics (scipy) load only when something is compared
        from ..verdict import compare

        scorer, builder = self.scorer, self.builder
        task_type = TASK_TYPES.get(task.type)
        metric = task_type.metric(task.metric or task_type.default_metric)
        device, label = scorer.device(target.name), f"{target.name}/{stage.name}"
        early = self.early_stop and metric.per_example is not None and metric.bounded
        if early and self.config.holm:
            # Bonferroni share of the family's error: valid at any stopping look
            confidence = 1 - (1 - thresholds.confidence) / len(self.config.tasks)
            thresholds = dataclasses.replace(thresholds, confidence=confidence)
        common: dict[str, Any] = dict(
            task_name=task.name, target=target.name, task_type=task_type, metric=metric,
            examples=scorer.examples(task.name), source=scorer.source_predictions(task.name), seed=self.config.seed,
            thresholds=thresholds, stage=None if final else stage.name, gated=gated,
        )
        if early:
            def predict(chunk: Index) -> Predictions:
                return scorer.predictions(task.name, stage.key, stage.artifact.path, label, chunk, device)

            result = compare_early_stop(**common, batch_size=task.batch_size, predict=predict)
        else:
            result = compare(**common, compressed=scorer.predictions(task.name, stage.key, stage.artifact.path,
                                                                     label, device=device))
        result.keys.update(source=builder.source_key, examples=self.scorer.keys.examples(task), artifact=stage.key)
        result.performance.update(artifact_bytes=stage.artifact.manifest.get("bytes_on_disk"),
                                  stats=stage.artifact.stats, cache_hit=stage.cache_hit,
                                  device=scorer.scored_on.get(stage.key, device),
                                  source_device=scorer.scored_on.get(builder.source_key, scorer.source_device))
        return result

    def _check_baseline(self, result: GateResult, limit: float | None) -> None:
        """The ``baseline`` check: the drop may grow by at most ``max_drop_increase`` since the baseline run."""
        if limit is None:
            return
        if self.baseline is None:
            result.warnings.append(f"max_drop_increase = {limit} not checked: no --compress-gate-baseline given")
            return
        from ..report.baseline import note

        then = note(result, self.baseline_rows(), self.baseline)
        if "drop_change" not in then:
            why = "has no row for it" if then["status"] == "new" else "scored it on other examples"
            result.warnings.append(f"max_drop_increase not checked: baseline {self.baseline!r} {why}")
            return
        grew = then["drop_change"] > limit
        result.check("baseline", not grew, f"the drop grew by {then['drop_change']:+.4f} since baseline "
                     f"{self.baseline!r} ({then['drop']:+.4f} -> {result.drop:+.4f}); max_drop_increase is "
                     f"{limit:.4f}")

    def _check_performance(self, target: TargetConfig, result: GateResult) -> None:
        """The target's ``size``, ``speed`` and ``latency`` checks (speed ones only where the timings can be
        trusted and were made on the target's hardware; ``hardware`` when --compress-gate-require-hardware)."""
        from ..performance import check_gates
        from ..targets import PRESETS, detect_machine

        perf = self.timer.performance(target.name)
        missing = PRESETS.get(target.hardware).missing(detect_machine())
        perf.off_target = "; ".join(missing) if missing and perf.source is not None else None
        result.performance.update(perf.to_json())
        if perf.source is None and self.timer.speed_note:
            result.warnings.append(self.timer.speed_note)
        if perf.speed_caveat:
            result.warnings.append(f"speedup {perf.speedup:.2f}x: {perf.speed_caveat}")
        representative = f"this machine lacks {'; '.join(missing)}" if missing else None
        failures, notes = check_gates(perf, min_size_ratio=target.min_size_ratio, min_speedup=target.min_speedup,
                                      max_latency_ms=target.max_latency_ms, speed_representative=representative)
        for name, message in failures:
            result.check(name, False, message)
        if self.require_hardware:
            for message in notes:
                result.check("hardware", False, f"{message} (--compress-gate-require-hardware is set)")
        else:
            result.warnings.extend(notes)

