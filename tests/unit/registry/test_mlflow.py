"""The MLflow backend against a local SQLite tracking store (offline; no server)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from pytest_compressgate.registry import (DecisionRefusedError, Status, UnknownArtifactError, Verdict,
                                          open_registry)

from .helpers import RECIPE, artifact, evaluation, key_for

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("mlflow")
    # MLflow builds its schema with ~60 alembic migrations, each synced to disk: on tmpfs that takes a
    # few seconds instead of ten.
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="compressgate-mlflow-", dir=shm)) if os.access(shm, os.W_OK) \
        else tmp_path_factory.mktemp("mlflow")
    yield f"sqlite:///{folder / 'mlflow.db'}"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def registry(tracking_uri: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COMPRESSGATE_USER", "reviewer")
    experiment = request.node.name.replace("[", "-").replace("]", "")  # one experiment per test
    with open_registry(f"mlflow://{tracking_uri}#{experiment}") as registry:
        yield registry


def test_missing_mlflow_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match=r"pip install 'pytest-compressgate\[mlflow\]'"):
        open_registry("mlflow://sqlite:////nowhere/mlflow.db")


def test_artifact_is_a_run_with_recipe_params_result_metrics_and_verdict_tags(registry):
    record = artifact("a")
    assert registry.record_artifact(record) is True
    assert registry.record_artifact(record) is False
    registry.record_evaluation(evaluation(record.key, run_id="r1"))
    registry.record_evaluation(evaluation(record.key, passed=False, run_id="r2"))
    details = registry.show(record.key[:8])
    assert details.artifact == record
    assert [(e.run_id, e.passed, e.id) for e in details.evaluations] == [("r1", True, 1), ("r2", False, 2)]
    assert details.evaluations[1].failures == ["drop 0.1200 exceeds the allowed drop 0.0200"]
    assert details.verdict is Verdict.FAIL

    (run,) = registry._runs(key=record.key)
    assert run.data.params["method"] == "onnx-dynamic-int8" and run.data.params["step.per_channel"] == "true"
    assert run.data.params["library.onnxruntime"] == "1.20.1" and '"sparsity": 0.3' in run.data.params["recipe"]
    assert run.data.metrics["intent/cpu-int8/drop"] == pytest.approx(0.12)
    assert run.data.metrics["bytes_on_disk"] == 1_234_567
    assert run.data.tags["compressgate.verdict"] == "FAIL"
    history = registry.client.get_metric_history(run.info.run_id, "intent/cpu-int8/passed")
    assert [m.value for m in history] == [1.0, 0.0]  # every evaluation kept, none overwritten


def test_decisions_append_and_force_rules_hold(registry):
    key = key_for("a")
    registry.record_artifact(artifact("a"))
    registry.record_evaluation(evaluation(key, passed=False))
    with pytest.raises(DecisionRefusedError, match="--force"):
        registry.approve(key, why="looks fine")
    with pytest.raises(DecisionRefusedError, match="needs a reason"):
        registry.reject(key, why=" ")
    registry.approve(key, force=True, why="accepted for the edge release")
    registry.reject(key, who="security", why="license")
    details = registry.show(key)
    assert [(a.decision.value, a.who, a.forced) for a in details.approvals] == [
        ("approve", "reviewer", True), ("reject", "security", False)]
    assert details.status is Status.REJECTED
    assert registry._runs(key=key)[0].data.tags["compressgate.status"] == "rejected"


def test_prefixes_lists_and_cards(registry):
    first = artifact("s0", stage_index=0, method="prune-magnitude")
    final = artifact("s1", stage_index=1, parent=first.key)
    registry.record_artifact(first)
    registry.record_artifact(final)
    registry.record_artifact(artifact("other", target="edge"))
    registry.record_evaluation(evaluation(first.key, gated=False, stage="0-prune-magnitude"))
    registry.record_evaluation(evaluation(final.key))
    assert [d.artifact.target for d in registry.list_artifacts(target="cpu-int8")] == ["cpu-int8", "cpu-int8"]
    with pytest.raises(UnknownArtifactError, match="candidates"):
        registry.show("ffffff00")
    card = registry.card(final.key[:10])
    assert "Stage 0-prune-magnitude" in card and "Stage 1-onnx-dynamic-int8" in card and "✅ PASS" in card
    assert f"{len(RECIPE)}" in card


def test_a_racing_duplicate_run_loses_nothing(registry, tracking_uri, monkeypatch):
    from mlflow.entities import RunTag

    from pytest_compressgate.registry.mlflow_backend import _chunked

    record = artifact("a")
    registry.record_artifact(record)
    experiment = registry.client.get_experiment(registry.experiment_id).name
    other = open_registry(f"mlflow://{tracking_uri}#{experiment}")
    monkeypatch.setattr(other, "_runs", lambda **kw: [])  # it looked before the first run was there
    assert other._insert_artifact(record) is True
    runs = registry._runs(key=record.key)
    assert len(runs) == 2
    late = evaluation(record.key, run_id="written-to-the-duplicate")
    tags = _chunked("compressgate.evaluation.99999999999999999999-ffffffff", late.to_json())
    registry.client.log_batch(runs[1].info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    registry.record_evaluation(evaluation(record.key, run_id="canonical"))
    details = registry.show(record.key)
    assert details.artifact == record
    assert [e.run_id for e in details.evaluations] == ["canonical", "written-to-the-duplicate"]
    assert len(registry.list_artifacts()) == 1
