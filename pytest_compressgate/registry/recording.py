"""Record what a gate session built and scored: every stage artifact and every comparison.

Called once per process at the end of a session (each pytest-xdist worker records its own items);
everything one session records commits in one transaction, so a crash mid-way records nothing half.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .base import Registry
from .model import ArtifactRecord, EvaluationRecord

if TYPE_CHECKING:  # the session imports numpy and the compressors; the registry itself does not
    from ..session import BuiltTarget, GateSession, Stage


def new_run_id() -> str:
    """A run id that sorts by time and never collides across machines and workers."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{socket.gethostname().split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def record_session(registry: Registry, session: GateSession, run_id: str) -> dict[str, int]:
    """Record every built stage of every built target, then every comparison, against its stage's key.

    Returns counts: ``{"artifacts": new artifact records, "evaluations": evaluation records}``.
    """
    built = session.built_targets
    counts = {"artifacts": 0, "evaluations": 0}
    with registry.batch():
        for target in built.values():
            for stage in target.stages:
                counts["artifacts"] += registry.record_artifact(artifact_record(session, target, stage))
        for comparison in session.comparisons:
            target = built.get(comparison.target) or session.build(comparison.target)  # compared => built
            stage = _stage_of(target, comparison.stage)
            gated = stage is target.final or stage.index in session.target(target.name).stage_thresholds
            registry.record_evaluation(evaluation_record(comparison.to_json(), artifact_key=stage.key,
                                                         run_id=run_id, gated=gated))
            counts["evaluations"] += 1
    return counts


def _stage_of(target: BuiltTarget, stage_name: str | None) -> Stage:
    if stage_name is None:
        return target.final
    for stage in target.stages:
        if stage.name == stage_name:
            return stage
    raise ValueError(f"comparison names stage {stage_name!r}, which target {target.name!r} does not have "
                     f"(stages: {', '.join(s.name for s in target.stages)})")


def artifact_record(session: GateSession, target: BuiltTarget, stage: Stage) -> ArtifactRecord:
    manifest = stage.artifact.manifest
    config = session.target(target.name)
    parent = manifest.get("source", {}).get("key") or (target.stages[stage.index - 1].key if stage.index
                                                        else session.source_key)
    return ArtifactRecord(
        key=stage.key, target=target.name, stage_index=stage.index, method=stage.method,
        params=dict(manifest.get("params", {})), recipe=[dict(step) for step in config.recipe],
        source_key=session.source_key, parent_key=parent, hardware=config.hardware,
        libraries=dict(manifest.get("libraries", {})), bytes_on_disk=manifest.get("bytes_on_disk"),
        stats=dict(manifest.get("stats", {})), path=str(stage.artifact.path), format=manifest.get("format"),
    )


def evaluation_record(data: dict[str, Any], *, artifact_key: str, run_id: str, gated: bool = True) -> EvaluationRecord:
    """An evaluation from a ``Comparison.to_json()`` dictionary (the form reports and xdist carry)."""
    interval = data.get("interval") or {}
    return EvaluationRecord(
        artifact_key=artifact_key, run_id=run_id, task=data["task"], target=data["target"], stage=data.get("stage"),
        gated=gated, metric=data["metric"], higher_is_better=data.get("higher_is_better"), n=int(data["n"]),
        examples_used=data.get("examples_used"), source_score=_float(data.get("source_score")),
        compressed_score=_float(data.get("compressed_score")), drop=_float(data.get("drop")),
        allowed_drop=_float(data.get("allowed_drop")), interval_low=_float(interval.get("low")),
        interval_high=_float(interval.get("high")), confidence=_float(interval.get("confidence")),
        p_value=_float(data.get("p_value")), decision_mode=data.get("decision"), passed=bool(data["passed"]),
        failures=[str(f) for f in data.get("failures", [])], warnings=[str(w) for w in data.get("warnings", [])],
        performance=_plain(data.get("performance") or {}),
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
