"""Record what a gate run built and scored: every stage artifact and every result, against its stage.

Called once per process at the end of a run (each pytest-xdist worker records its own items); everything
one run records commits in one transaction, so a crash mid-way records nothing half. The inputs are plain:
``BuiltStage`` says what each stage is, results are the gate's result records, so the registry knows
nothing of how a session builds or scores.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .base import ModelRegistry
from .model import ArtifactRecord, EvaluationRecord

if TYPE_CHECKING:  # the result module is light, but the registry needs it for types only
    from ..result import GateResult


@dataclass(frozen=True)
class BuiltStage:
    """One built stage of a target's recipe, as the registry records it."""

    key: str
    target: str
    index: int
    method: str
    manifest: Mapping[str, Any]  # the artifact's manifest (params, format, stats, libraries, bytes_on_disk)
    path: str  # the artifact's folder
    parent_key: str  # the stage it was built from; the source's key for the first stage
    source_key: str
    recipe: tuple[dict[str, Any], ...]  # the target's recipe, its tables as the user wrote them
    hardware: str  # the target's hardware preset
    gated: bool  # the final stage, or a stage with thresholds of its own
    final: bool

    @property
    def name(self) -> str:
        """What a result's ``stage`` names (None there means the final stage)."""
        return f"{self.index}-{self.method}"


def new_run_id() -> str:
    """A run id that sorts by time and never collides across machines and workers."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{socket.gethostname().split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def record_run(registry: ModelRegistry, built: Sequence[BuiltStage], results: Sequence[GateResult],
               run_id: str) -> dict[str, int]:
    """Record every built stage, then every result against its stage's key.

    Returns counts: ``{"artifacts": new artifact records, "evaluations": evaluation records}``. A result
    whose stage is not among ``built`` is an error (``ValueError``), and nothing is recorded.
    """
    counts = {"artifacts": 0, "evaluations": 0}
    with registry.batch():
        for stage in built:
            counts["artifacts"] += registry.record_artifact(artifact_record(stage))
        for result in results:
            stage = _stage_of(built, result.target, result.stage)
            registry.record_evaluation(evaluation_record(result, artifact_key=stage.key, run_id=run_id,
                                                         gated=stage.gated))
            counts["evaluations"] += 1
    return counts


def _stage_of(built: Sequence[BuiltStage], target: str, stage_name: str | None) -> BuiltStage:
    stages = [s for s in built if s.target == target]
    for stage in stages:
        if (stage.final if stage_name is None else stage.name == stage_name):
            return stage
    raise ValueError(f"a result names stage {stage_name or 'final'!r} of target {target!r}, which was not built "
                     f"(stages: {', '.join(s.name for s in stages) or 'none'})")


def artifact_record(stage: BuiltStage) -> ArtifactRecord:
    manifest = stage.manifest
    return ArtifactRecord(
        key=stage.key, target=stage.target, stage_index=stage.index, method=stage.method,
        params=dict(manifest.get("params", {})), recipe=[dict(step) for step in stage.recipe],
        source_key=stage.source_key, parent_key=stage.parent_key, hardware=stage.hardware,
        libraries=dict(manifest.get("libraries", {})), bytes_on_disk=manifest.get("bytes_on_disk"),
        stats=dict(manifest.get("stats", {})), path=stage.path, format=manifest.get("format"),
    )


def evaluation_record(result: GateResult, *, artifact_key: str, run_id: str, gated: bool = True) -> EvaluationRecord:
    """The registry's record of one result, scored against the artifact ``artifact_key``."""
    interval = result.interval
    return EvaluationRecord(
        artifact_key=artifact_key, run_id=run_id, task=result.task, target=result.target, stage=result.stage,
        gated=gated, metric=result.metric, higher_is_better=result.higher_is_better, n=int(result.n),
        examples_used=result.examples_used, source_score=_float(result.source_score),
        compressed_score=_float(result.compressed_score), drop=_float(result.drop),
        allowed_drop=_float(result.allowed_drop), interval_low=_float(interval.low if interval else None),
        interval_high=_float(interval.high if interval else None),
        confidence=_float(interval.confidence if interval else None), p_value=_float(result.p_value),
        decision_mode=result.decision, passed=bool(result.passed), failures=[str(f) for f in result.failures],
        warnings=[str(w) for w in result.warnings], performance=_plain(result.performance or {}),
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """JSON-safe copies of numpy scalars and nested containers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
