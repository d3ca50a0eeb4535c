"""Record builders for registry tests, and a worker that writes from another process."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pytest_compressgate.registry import ArtifactRecord, EvaluationRecord, open_registry

RECIPE = [{"method": "prune-magnitude", "sparsity": 0.3}, {"method": "onnx-dynamic-int8", "per_channel": True}]


def key_for(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def artifact(name: str = "a", *, target: str = "cpu-int8", stage_index: int = 1, parent: str | None = None,
             **overrides: Any) -> ArtifactRecord:
    method = RECIPE[stage_index]["method"] if stage_index < len(RECIPE) else "onnx-dynamic-int8"
    fields = dict(
        key=key_for(name), target=target, stage_index=stage_index, method=method,
        params={"per_channel": True, "operators": ["MatMul"]}, recipe=RECIPE, source_key=key_for("source"),
        parent_key=parent or key_for("source"), hardware="x86-avx2",
        libraries={"onnxruntime": "1.20.1", "optimum": "2.1.0"}, bytes_on_disk=1_234_567,
        stats={"quantized_nodes": 12, "sparsity": 0.3}, path=f"/cache/artifacts/{name}", format="onnx",
    )
    fields.update(overrides)
    return ArtifactRecord(**fields)


def evaluation(artifact_key: str, *, task: str = "intent", target: str = "cpu-int8", passed: bool = True,
               run_id: str = "run-1", **overrides: Any) -> EvaluationRecord:
    fields = dict(
        artifact_key=artifact_key, task=task, target=target, metric="accuracy", n=150, source_score=0.92,
        compressed_score=0.91 if passed else 0.80, drop=0.01 if passed else 0.12, allowed_drop=0.02,
        passed=passed, run_id=run_id, higher_is_better=True, interval_low=-0.005, interval_high=0.03,
        confidence=0.95, p_value=0.25, decision_mode="estimate",
        failures=[] if passed else ["drop 0.1200 exceeds the allowed drop 0.0200"],
        performance={"size_ratio": 3.9, "speedup": 1.7, "device": "cuda:0", "source_device": "cpu",
                     "devices": {"source": "cuda:0", "compressed": "cuda:0"}},
    )
    fields.update(overrides)
    return EvaluationRecord(**fields)


def write_from_process(url: str, worker: int, count: int, barrier: Any, queue: Any) -> None:
    """Open the registry (racing the others to create it) and record ``count`` artifacts, three
    evaluations each, a shared artifact, and decisions on it, each write its own transaction."""
    barrier.wait()
    started = time.perf_counter()
    registry = open_registry(url)
    shared = artifact("shared")
    registry.record_artifact(shared)
    writes = 1
    for i in range(count):
        record = artifact(f"w{worker}-{i}")
        registry.record_artifact(record)
        for task in ("intent", "topic", "sentiment"):
            registry.record_evaluation(evaluation(record.key, task=task, run_id=f"worker-{worker}"))
        registry.record_evaluation(evaluation(shared.key, task=f"task-{worker}-{i}", run_id=f"worker-{worker}"))
        writes += 5
        if i % 4 == 0:
            registry.approve(shared.key, who=f"worker-{worker}", why=f"round {i}")
            registry.reject(shared.key, who=f"worker-{worker}", why=f"round {i} reconsidered")
            writes += 2
    registry.close()
    queue.put((worker, writes, time.perf_counter() - started))
