"""Compare a compressed model with its source on the same examples and decide the verdict.

Pure computation on per-example predictions: no models, no pytest. Everything a reviewer needs to
see in a report or a failure message is on the returned ``Comparison``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .config.schema import Thresholds
from .stats import (DecisionMode, Interval, binary_drop_interval, bootstrap_p_value, decide, interval_from_drops,
                    mcnemar_exact, paired_bootstrap_drops, small_n_warning)
from .tasks.base import Examples, Predictions, TaskType
from .tasks.metrics import Metric


@dataclass
class Comparison:
    task: str
    target: str
    metric: str
    higher_is_better: bool
    n: int
    source_score: float
    compressed_score: float
    drop: float  # positive = compressed is worse, in metric units
    allowed_drop: float
    min_score: float | None
    decision: str
    interval: Interval | None = None
    p_value: float | None = None
    passed: bool = True
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stage: str | None = None  # for stacked recipes: which stage was scored
    performance: dict[str, Any] = field(default_factory=dict)  # size / speed figures and their gates
    examples_used: int | None = None  # fewer than n when early stopping decided the verdict
    keys: dict[str, str] = field(default_factory=dict)  # content keys of the source, examples and artifact

    @property
    def item_id(self) -> str:
        return f"{self.task}[{self.target}]" + (f"@{self.stage}" if self.stage else "")

    @property
    def relative_drop(self) -> float:
        return self.drop / abs(self.source_score) if self.source_score else math.nan

    def fail(self, reason: str) -> None:
        self.failures.append(reason)
        self.passed = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["relative_drop"] = self.relative_drop
        return data

    def summary(self) -> str:
        """One line with the numbers: scores, drop, allowed drop, interval, p-value and n."""
        ci = ""
        if self.interval is not None:
            ci = f", {self.interval.confidence:.0%} CI [{self.interval.low:+.4f}, {self.interval.high:+.4f}]"
        test = "McNemar" if self.interval is not None and self.interval.method == "discordant-pairs" else "bootstrap"
        p = f", {test} p={self.p_value:.3g}" if self.p_value is not None else ""
        used = f" (early stop after {self.examples_used})" if self.examples_used and self.examples_used < self.n else ""
        return (
            f"{self.item_id}: {self.metric} source {self.source_score:.4f} -> compressed "
            f"{self.compressed_score:.4f}; drop {self.drop:+.4f}{ci}{p}; allowed drop "
            f"{self.allowed_drop:.4f}; n={self.n}{used}"
        )

    def message(self) -> str:
        lines = [self.summary()]
        lines += [f"  FAIL: {f}" for f in self.failures]
        lines += [f"  note: {w}" for w in self.warnings]
        if self.failures:
            lines.append(
                f"  next: if this loss is acceptable, raise max_drop under [tool.compressgate.tasks.{self.task}"
                f".targets.{self.target}]; otherwise try a gentler recipe for '{self.target}' (per-channel "
                "scales, static calibration on your own data, fewer pruned weights)."
            )
        return "\n".join(lines)


def signed_drop(metric: Metric, source: float, compressed: float) -> float:
    return (source - compressed) if metric.higher_is_better else (compressed - source)


def compare(
    *,
    task_name: str,
    target: str,
    task_type: TaskType,
    metric: Metric,
    examples: Examples,
    source: Predictions,
    compressed: Predictions,
    thresholds: Thresholds,
    seed: int = 0,
    stage: str | None = None,
    gated: bool = True,
    interval: Interval | None = None,
) -> Comparison:
    """Scores, drop, interval and verdict. ``gated=False`` reports the numbers without judging them."""
    n = len(examples)
    if len(source.values) != n or len(compressed.values) != n:
        raise ValueError(
            f"{task_name}[{target}]: {len(source.values)} source and {len(compressed.values)} compressed "
            f"predictions for {n} examples; predictions must be paired"
        )
    source_score = task_type.score(metric, source, examples)
    compressed_score = task_type.score(metric, compressed, examples)
    drop = signed_drop(metric, source_score, compressed_score)
    allowed = thresholds.allowed_drop(source_score)
    finite = math.isfinite(source_score) and math.isfinite(compressed_score)
    measured, p_value, discordant = _uncertainty(task_type, metric, examples, source, compressed,
                                                  thresholds.confidence, seed) if finite else (None, None, None)
    interval = interval or measured  # e.g. an early stop's confidence sequence, valid at the stopping time
    comparison = Comparison(
        task=task_name, target=target, metric=metric.name, higher_is_better=metric.higher_is_better, n=n,
        source_score=source_score, compressed_score=compressed_score, drop=drop, allowed_drop=allowed,
        min_score=thresholds.min_score, decision=thresholds.decision.value, interval=interval,
        p_value=p_value, stage=stage,
    )
    mode = DecisionMode(thresholds.decision)
    if not finite:
        comparison.failures.append(
            f"the {metric.name} is not finite (source {source_score}, compressed {compressed_score}): "
            "the metric could not be computed on these predictions")
    else:
        verdict = decide(mode=mode, drop=drop, interval=interval, allowed_drop=allowed)
        if not verdict.passed:
            comparison.failures.append(verdict.reason)
    collapse = task_type.collapse(compressed, examples)
    if collapse:
        comparison.failures.append(f"silent collapse: {collapse}")
    if thresholds.min_score is not None and not _meets_floor(metric, compressed_score, thresholds.min_score):
        word = "below" if metric.higher_is_better else "above"
        comparison.failures.append(
            f"compressed {metric.name} {compressed_score:.4f} is {word} the floor min_score = {thresholds.min_score}"
        )
    warning = small_n_warning(n=n, allowed_drop=allowed, discordant_rate=discordant,
                              confidence=thresholds.confidence) if allowed > 0 else None
    if warning:
        comparison.warnings.append(warning)
    if not gated:
        comparison.failures.clear()
    comparison.passed = not comparison.failures
    return comparison


def _meets_floor(metric: Metric, score: float, floor: float) -> bool:
    return score >= floor if metric.higher_is_better else score <= floor


def _uncertainty(task_type: TaskType, metric: Metric, examples: Examples, source: Predictions,
                 compressed: Predictions, confidence: float, seed: int):
    """Interval of the drop, McNemar p-value (binary metrics) and the discordant rate."""
    n = len(examples)
    if n < 2:
        return None, None, None
    if metric.binary:
        src = np.asarray(task_type.per_example(metric, source, examples), dtype=bool)
        cmp_ = np.asarray(task_type.per_example(metric, compressed, examples), dtype=bool)
        interval = binary_drop_interval(src, cmp_, confidence=confidence)
        if not metric.higher_is_better:
            interval = Interval(-interval.high, -interval.low, interval.confidence, interval.method)
        return interval, mcnemar_exact(src, cmp_), float(np.mean(src != cmp_))

    def drop_fn(index: np.ndarray) -> float:
        return signed_drop(metric, task_type.score(metric, source, examples, index),
                           task_type.score(metric, compressed, examples, index))

    drops = paired_bootstrap_drops(drop_fn, n, seed=seed, n_resamples=1000)
    return interval_from_drops(drops, confidence=confidence), bootstrap_p_value(drops), None
