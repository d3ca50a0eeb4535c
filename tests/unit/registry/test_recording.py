"""record_session: every built stage becomes an artifact record; each comparison goes to its stage."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from compressors.base import Artifact
from pytest_compressgate.config import TargetConfig
from pytest_compressgate.registry import Verdict, new_run_id, open_registry, record_session
from pytest_compressgate.session import BuiltTarget, Stage
from pytest_compressgate.stats import Interval
from pytest_compressgate.verdict import Comparison

from .helpers import key_for

RECIPE = [{"method": "prune-magnitude", "sparsity": 0.3}, {"method": "onnx-dynamic-int8"}]


class FakeSession(SimpleNamespace):
    """What record_session reads from a GateSession after its comparisons ran."""

    def target(self, name: str) -> TargetConfig:
        return self.targets[name]


def _stage(index: int, method: str, parent: str, tmp_path: Path) -> Stage:
    key = key_for(f"{method}-{index}")
    manifest = {"method": method, "params": {"sparsity": 0.3} if index == 0 else {"per_channel": False},
                "format": "transformers" if index == 0 else "onnx", "source": {"key": parent, "path": "/src"},
                "stats": {"sparsity": 0.3} if index == 0 else {"quantized_nodes": 8},
                "bytes_on_disk": 1000 // (index + 1),
                "libraries": {"torch": "2.13.0"}}
    return Stage(index, method, key, Artifact(tmp_path / key, manifest), cache_hit=False)


def _comparison(stage: str | None, passed: bool, drop: float) -> Comparison:
    return Comparison(task="intent", target="edge", metric="accuracy", higher_is_better=True, n=150,
                      source_score=0.9, compressed_score=0.9 - drop, drop=drop, allowed_drop=0.02, min_score=None,
                      decision="estimate", interval=Interval(drop - 0.01, drop + 0.01, 0.95, "discordant-pairs"),
                      p_value=0.5, passed=passed, failures=[] if passed else ["too much"], stage=stage,
                      performance={"size_ratio": 2.0})


@pytest.fixture
def session(tmp_path: Path) -> FakeSession:
    source = key_for("source")
    first = _stage(0, "prune-magnitude", source, tmp_path)
    final = _stage(1, "onnx-dynamic-int8", first.key, tmp_path)
    return FakeSession(
        source_key=source,
        built_targets={"edge": BuiltTarget("edge", [first, final])},
        targets={"edge": TargetConfig(name="edge", hardware="x86-avx2", recipe=RECIPE)},
        comparisons=[_comparison("0-prune-magnitude", True, 0.005), _comparison(None, False, 0.04)],
    )


def test_every_stage_and_comparison_is_recorded_against_its_stage(tmp_path, session):
    with open_registry(f"sqlite:///{tmp_path / 'r.db'}") as registry:
        run_id = new_run_id()
        assert record_session(registry, session, run_id) == {"artifacts": 2, "evaluations": 2}
        first, final = (registry.show(s.key) for s in session.built_targets["edge"].stages)
        assert first.artifact.stage_index == 0 and first.artifact.parent_key == key_for("source")
        assert final.artifact.parent_key == first.key and final.artifact.recipe == RECIPE
        assert final.artifact.format == "onnx" and final.artifact.bytes_on_disk == 500
        assert [e.stage for e in first.evaluations] == ["0-prune-magnitude"]
        assert first.evaluations[0].gated is False and first.verdict is Verdict.UNGATED
        assert final.evaluations[0].interval_high == pytest.approx(0.05) and final.verdict is Verdict.FAIL
        assert final.evaluations[0].run_id == run_id and final.evaluations[0].performance == {"size_ratio": 2.0}
        # a second gate run appends; the artifacts are not registered twice
        assert record_session(registry, session, new_run_id()) == {"artifacts": 0, "evaluations": 2}
        assert len(registry.show(final.key).evaluations) == 2


def test_a_stage_with_its_own_threshold_is_gated(tmp_path, session):
    session.targets["edge"] = TargetConfig(name="edge", hardware="x86-avx2", recipe=RECIPE,
                                           stage_thresholds={0: {"max_drop": 0.01}})
    with open_registry(f"sqlite:///{tmp_path / 'r.db'}") as registry:
        record_session(registry, session, "run")
        assert registry.show(session.built_targets["edge"].stages[0].key).verdict is Verdict.PASS


def test_a_session_that_fails_mid_way_records_nothing(tmp_path, session):
    session.comparisons.append(_comparison("9-missing", True, 0.0))
    with open_registry(f"sqlite:///{tmp_path / 'r.db'}") as registry:
        with pytest.raises(ValueError, match="stage '9-missing'"):
            record_session(registry, session, "run")
        assert registry.list_artifacts() == []
