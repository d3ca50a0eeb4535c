"""record_run: every built stage becomes an artifact record; each result goes to its stage."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from compressors.base import Artifact
from compressors.pipeline import parse_recipe
from pytest_compressgate.config import TargetConfig
from pytest_compressgate.registry import BuiltStage, Verdict, new_run_id, open_registry, record_run
from pytest_compressgate.stats import Interval
from pytest_compressgate.result import GateResult

from .helpers import key_for

RECIPE = [{"method": "prune-magnitude", "sparsity": 0.3}, {"method": "onnx-dynamic-int8"}]
SOURCE = key_for("source")


def _manifest(index: int, method: str, parent: str) -> dict:
    return {"method": method, "params": {"sparsity": 0.3} if index == 0 else {"per_channel": False},
            "format": "transformers" if index == 0 else "onnx", "source": {"key": parent, "path": "/src"},
            "stats": {"sparsity": 0.3} if index == 0 else {"quantized_nodes": 8},
            "bytes_on_disk": 1000 // (index + 1), "libraries": {"torch": "2.13.0"}}


def _comparison(stage: str | None, passed: bool, drop: float) -> GateResult:
    return GateResult(task="intent", target="edge", metric="accuracy", higher_is_better=True, n=150,
                      source_score=0.9, compressed_score=0.9 - drop, drop=drop, allowed_drop=0.02, min_score=None,
                      decision="estimate", interval=Interval(drop - 0.01, drop + 0.01, 0.95, "discordant-pairs"),
                      p_value=0.5, passed=passed, failures=[] if passed else ["too much"], stage=stage,
                      performance={"size_ratio": 2.0})


@pytest.fixture
def built(tmp_path: Path) -> list[BuiltStage]:
    stages: list[BuiltStage] = []
    for index, method in enumerate(("prune-magnitude", "onnx-dynamic-int8")):
        key, parent = key_for(f"{method}-{index}"), stages[-1].key if stages else SOURCE
        stages.append(BuiltStage(key=key, target="edge", index=index, method=method,
                                 manifest=_manifest(index, method, parent), path=str(tmp_path / key),
                                 parent_key=parent, source_key=SOURCE, recipe=tuple(RECIPE), hardware="x86-avx2",
                                 gated=index == 1, final=index == 1))
    return stages


@pytest.fixture
def results() -> list[GateResult]:
    return [_comparison("0-prune-magnitude", True, 0.005), _comparison(None, False, 0.04)]


def test_every_stage_and_result_is_recorded_against_its_stage(tmp_path, built, results):
    with open_registry(f"sqlite:///{tmp_path / 'r.db'}") as registry:
        run_id = new_run_id()
        assert record_run(registry, built, results, run_id) == {"artifacts": 2, "evaluations": 2}
        first, final = (registry.show(s.key) for s in built)
        assert first.artifact.stage_index == 0 and first.artifact.parent_key == SOURCE
        assert final.artifact.parent_key == first.key and final.artifact.recipe == RECIPE
        assert final.artifact.format == "onnx" and final.artifact.bytes_on_disk == 500
        assert [e.stage for e in first.evaluations] == ["0-prune-magnitude"]
        assert first.evaluations[0].gated is False and first.verdict is Verdict.UNGATED
        assert final.evaluations[0].interval_high == pytest.approx(0.05) and final.verdict is Verdict.FAIL
        assert final.evaluations[0].run_id == run_id and final.evaluations[0].performance == {"size_ratio": 2.0}
        # a second gate run appends; the artifacts are not registered twice
        assert record_run(registry, built, results, new_run_id()) == {"artifacts": 0, "evaluations": 2}
        assert len(registry.show(final.key).evaluations) == 2


def test_results_read_back_from_json_are_recorded_alike(tmp_path, built, results):
    with open_registry(f"sqlite:///{tmp_path / 'r.db'}") as registry:
        record_run(registry, built, [GateResult.from_json(r.to_json()) for r in results], "run")
        final = registry.show(built[1].key)
        assert final.verdict is Verdict.FAIL and final.evaluations[0].interval_low == pytest.approx(0.03)


def test_a_stage_with_its_own_threshold_is_gated(tmp_path, built, results):
    built[0] = dataclasses.replace(built[0], gated=True)
    with open_registry(f"sqlite:///{tmp_path / 'r.db'}") as registry:
        record_run(registry, built, results, "run")
        assert registry.show(built[0].key).verdict is Verdict.PASS


def test_a_run_that_fails_mid_way_records_nothing(tmp_path, built, results):
    results.append(_comparison("9-missing", True, 0.0))
    with open_registry(f"sqlite:///{tmp_path / 'r.db'}") as registry:
        with pytest.raises(ValueError, match="stage '9-missing'"):
            record_run(registry, built, results, "run")
        assert registry.list_artifacts() == []


def test_a_session_is_read_into_built_stages(tmp_path, built, results):
    """GateSession.built_stages reads the session's built targets, its target configs and its results."""
    from pytest_compressgate.gate import BuiltTarget, GateSession, Stage

    stages = [Stage(s.index, s.method, s.key, Artifact(Path(s.path), dict(s.manifest)), cache_hit=False)
              for s in built]
    config = TargetConfig(name="edge", hardware="x86-avx2", recipe=parse_recipe(RECIPE, "targets.edge.recipe"),
                          stage_thresholds={0: {"max_drop": 0.01}})
    session = SimpleNamespace(source_key=SOURCE, built_targets={"edge": BuiltTarget("edge", stages)},
                              target=lambda name: config, build=lambda name: BuiltTarget("edge", stages),
                              comparisons=results)
    with open_registry(f"sqlite:///{tmp_path / 'r.db'}") as registry:
        assert record_run(registry, GateSession.built_stages(session), results, "run") == {"artifacts": 2,
                                                                                          "evaluations": 2}
        first, final = (registry.show(s.key) for s in built)
        assert first.artifact.parent_key == SOURCE and final.artifact.parent_key == first.key
        assert final.artifact.recipe == RECIPE and final.artifact.hardware == "x86-avx2"
        assert first.verdict is Verdict.PASS  # gated by its own threshold
