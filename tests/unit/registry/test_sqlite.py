from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from pytest_compressgate.registry import (AmbiguousKeyError, Decision, DecisionRefusedError, NotARegistryError,
                                          RegistryError, SchemaTooNewError, Status, UnknownArtifactError, Verdict,
                                          default_who, open_registry)
from pytest_compressgate.registry import model as registry_model
from pytest_compressgate.registry.migrations import LATEST
from pytest_compressgate.registry.sqlite import SqliteRegistry

from .helpers import artifact, evaluation, key_for, write_from_process


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def registry(url: str):
    with open_registry(url) as registry:
        yield registry


@pytest.fixture(autouse=True)
def reviewer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSGATE_USER", "reviewer")


# -- records -----------------------------------------------------------------------------------


def test_artifact_and_evaluations_round_trip(registry, url):
    record = artifact("a")
    assert registry.record_artifact(record) is True
    first = registry.record_evaluation(evaluation(record.key, run_id="run-1"))
    second = registry.record_evaluation(evaluation(record.key, task="topic", run_id="run-1"))
    assert second > first
    with open_registry(url) as reopened:  # everything was committed, nothing lives only in memory
        details = reopened.show(record.key)
    assert details.artifact == record
    assert [e.task for e in details.evaluations] == ["intent", "topic"]
    assert details.evaluations[0] == dataclasses.replace(evaluation(record.key), id=first,
                                                         recorded_at=details.evaluations[0].recorded_at)
    assert details.verdict is Verdict.PASS and details.status is Status.PENDING


def test_recording_a_key_again_keeps_the_first_record(registry):
    assert registry.record_artifact(artifact("a")) is True
    assert registry.record_artifact(artifact("a", path="/elsewhere")) is False
    assert registry.show(key_for("a")).artifact.path == "/cache/artifacts/a"


def test_keys_must_be_content_keys(registry):
    with pytest.raises(RegistryError, match="not a content key"):
        registry.record_artifact(artifact("a", key="not-a-key"))


def test_evaluation_of_unknown_artifact_is_refused_and_writes_nothing(registry):
    with pytest.raises(UnknownArtifactError, match="record the artifact first"):
        registry.record_evaluation(evaluation(key_for("ghost")))
    assert registry.list_artifacts() == []


def test_list_filters_by_target(registry):
    registry.record_artifact(artifact("a", target="cpu-int8"))
    registry.record_artifact(artifact("b", target="edge"))
    assert [d.artifact.target for d in registry.list_artifacts()] == ["cpu-int8", "edge"]
    assert [d.key for d in registry.list_artifacts(target="edge")] == [key_for("b")]


# -- verdict -----------------------------------------------------------------------------------


def test_verdict_follows_the_latest_evaluation_and_history_is_kept(registry):
    key = key_for("a")
    registry.record_artifact(artifact("a"))
    assert registry.show(key).verdict is Verdict.UNEVALUATED
    registry.record_evaluation(evaluation(key, passed=True, run_id="r1"))
    assert registry.show(key).verdict is Verdict.PASS
    registry.record_evaluation(evaluation(key, passed=False, run_id="r2"))
    assert registry.show(key).verdict is Verdict.FAIL
    registry.record_evaluation(evaluation(key, passed=True, run_id="r3"))
    details = registry.show(key)
    assert details.verdict is Verdict.PASS
    assert [(e.run_id, e.passed) for e in details.evaluations] == [("r1", True), ("r2", False), ("r3", True)]


def test_an_old_failure_on_another_task_still_fails(registry):
    key = key_for("a")
    registry.record_artifact(artifact("a"))
    registry.record_evaluation(evaluation(key, task="intent", passed=False, run_id="r1"))
    registry.record_evaluation(evaluation(key, task="topic", passed=True, run_id="r2"))
    assert registry.show(key).verdict is Verdict.FAIL


def test_ungated_stage_evaluations_do_not_pass_or_fail(registry):
    key = key_for("a")
    registry.record_artifact(artifact("a", stage_index=0))
    registry.record_evaluation(evaluation(key, gated=False, stage="0-prune-magnitude"))
    assert registry.show(key).verdict is Verdict.UNGATED


# -- decisions -----------------------------------------------------------------------------------


def test_decisions_are_appended_never_changed(registry, url):
    key = key_for("a")
    registry.record_artifact(artifact("a"))
    registry.record_evaluation(evaluation(key))
    approval = registry.approve(key[:8], why="ship it")
    rejection = registry.reject(key[:8], who="security", why="license review pending")
    details = registry.show(key)
    assert [(d.decision, d.who, d.why) for d in details.approvals] == [
        (Decision.APPROVE, "reviewer", "ship it"), (Decision.REJECT, "security", "license review pending")]
    assert details.approvals == [approval, rejection]
    assert details.status is Status.REJECTED
    assert approval.decided_at.endswith("+00:00") and approval.verdict is Verdict.PASS
    registry.approve(key, why="license cleared")
    assert registry.show(key).status is Status.APPROVED and len(registry.show(key).approvals) == 3
    raw = sqlite3.connect(url[len("sqlite:///"):])
    for statement in ("UPDATE approvals SET why = 'rewritten'", "DELETE FROM approvals",
                      "UPDATE evaluations SET passed = 1", "DELETE FROM evaluations", "DELETE FROM artifacts"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(statement)
    raw.close()


def test_reject_needs_a_reason(registry):
    registry.record_artifact(artifact("a"))
    for why in ("", "   "):
        with pytest.raises(DecisionRefusedError, match="a rejection needs a reason"):
            registry.reject(key_for("a"), why=why)
    assert registry.show(key_for("a")).approvals == []


def test_approving_a_failing_artifact_needs_force_and_a_reason(registry):
    key = key_for("a")
    registry.record_artifact(artifact("a"))
    registry.record_evaluation(evaluation(key, passed=False))
    refused = r"failed its latest gate \(intent\[cpu-int8\]: drop 0.1200.*--force"
    with pytest.raises(DecisionRefusedError, match=refused):
        registry.approve(key, why="fine")
    with pytest.raises(DecisionRefusedError, match="forced approval needs a reason"):
        registry.approve(key, force=True)
    forced = registry.approve(key, force=True, why="accepted loss for the edge release")
    assert forced.forced is True and forced.verdict is Verdict.FAIL
    assert registry.show(key).approvals[-1].forced is True
    assert registry.reject(key, why="changed my mind").forced is False


def test_force_is_recorded_only_when_it_was_needed(registry):
    registry.record_artifact(artifact("a"))
    registry.record_evaluation(evaluation(key_for("a"), passed=True))
    assert registry.approve(key_for("a"), force=True).forced is False


def test_who_defaults_to_env_then_git_then_os_user(monkeypatch):
    assert default_who() == "reviewer"
    monkeypatch.delenv("COMPRESSGATE_USER")
    monkeypatch.setattr(registry_model, "_git_user", lambda: "Git Name")
    assert default_who() == "Git Name"
    monkeypatch.setattr(registry_model, "_git_user", lambda: "")
    monkeypatch.setattr(registry_model.getpass, "getuser", lambda: "osuser")
    assert default_who() == "osuser"


# -- key prefixes ------------------------------------------------------------------------------


def _two_with_shared_prefix(registry) -> tuple[str, str]:
    a, b = "abcdef" + "1" * 26, "abcdef" + "2" * 26
    registry.record_artifact(artifact("x", key=a))
    registry.record_artifact(artifact("y", key=b, target="edge"))
    return a, b


def test_unique_prefixes_resolve(registry):
    a, b = _two_with_shared_prefix(registry)
    assert registry.show("abcdef1").key == a
    assert registry.show(b.upper()).key == b


def test_ambiguous_prefix_lists_candidates(registry):
    _two_with_shared_prefix(registry)
    with pytest.raises(AmbiguousKeyError, match=r"matches 2 artifacts: abcdef111111 \(cpu-int8 1-onnx-dynamic-int8\), "
                                                r"abcdef222222 \(edge 1-onnx-dynamic-int8\); give more characters"):
        registry.show("abcdef")


def test_short_unknown_and_malformed_keys_say_what_to_do(registry):
    _two_with_shared_prefix(registry)
    with pytest.raises(AmbiguousKeyError, match="too short: give at least 6 characters"):
        registry.show("abcde")
    with pytest.raises(UnknownArtifactError, match=r"no artifact 'abcdef3' .*candidates: abcdef111111.*registry list"):
        registry.show("abcdef3")
    with pytest.raises(UnknownArtifactError, match="not an artifact key"):
        registry.approve("cpu-int8", why="x")


def test_unknown_key_in_an_empty_registry(registry):
    with pytest.raises(UnknownArtifactError, match="is empty; run `pytest --compress-gate`"):
        registry.show("abcdef")


# -- transactions ------------------------------------------------------------------------------


def test_a_failing_batch_rolls_back_whole_and_keeps_earlier_rows(registry, url):
    registry.record_artifact(artifact("a"))
    registry.record_evaluation(evaluation(key_for("a")))
    registry.approve(key_for("a"), why="ok")
    with pytest.raises(RuntimeError, match="crash mid-write"), registry.batch():
        registry.record_artifact(artifact("b"))
        registry.record_evaluation(evaluation(key_for("b")))
        registry.record_evaluation(evaluation(key_for("a"), passed=False, run_id="r2"))
        raise RuntimeError("crash mid-write")
    with open_registry(url) as reopened:
        assert [d.key for d in reopened.list_artifacts()] == [key_for("a")]
        details = reopened.show(key_for("a"))
    assert len(details.evaluations) == 1 and details.verdict is Verdict.PASS and len(details.approvals) == 1


def test_a_failing_statement_inside_a_write_leaves_no_trace(registry, monkeypatch):
    registry.record_artifact(artifact("a"))
    real = SqliteRegistry._insert_approval

    def insert_then_fail(self, record):
        real(self, record)
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(SqliteRegistry, "_insert_approval", insert_then_fail)
        with pytest.raises(sqlite3.OperationalError):
            registry.approve(key_for("a"), why="ok")
    assert registry.show(key_for("a")).approvals == []
    registry.approve(key_for("a"), why="ok")
    assert [a.who for a in registry.show(key_for("a")).approvals] == ["reviewer"]


def test_a_caught_failure_inside_a_batch_rolls_back_only_itself(registry):
    with registry.batch():
        registry.record_artifact(artifact("a"))
        with pytest.raises(UnknownArtifactError):
            registry.record_evaluation(evaluation(key_for("ghost")))
        registry.record_evaluation(evaluation(key_for("a")))
    assert len(registry.show(key_for("a")).evaluations) == 1


# -- the file and its schema -------------------------------------------------------------------


def test_schema_versions_are_recorded(registry, url):
    raw = sqlite3.connect(url[len("sqlite:///"):])
    assert [r[0] for r in raw.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2]
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    assert registry.schema_version() == LATEST


def test_an_older_file_is_migrated_forward_in_place(tmp_path):
    path = tmp_path / "old.db"
    old = SqliteRegistry(path, migrate_to=1)
    old.record_artifact(artifact("a"))
    old.record_evaluation(evaluation(key_for("a")))
    assert old.schema_version() == 1
    old.close()
    with open_registry(f"sqlite:///{path}") as registry:
        assert registry.schema_version() == LATEST
        assert len(registry.show(key_for("a")).evaluations) == 1
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM evaluations")


def test_a_newer_schema_is_refused(tmp_path, registry, url):
    registry.record_artifact(artifact("a"))
    registry.close()
    raw = sqlite3.connect(url[len("sqlite:///"):])
    raw.execute("INSERT INTO schema_version VALUES (99, 'from the future', '2099-01-01')")
    raw.commit()
    raw.close()
    too_new = r"schema version 99, .*knows only up to 2: upgrade pytest-compressgate"
    with pytest.raises(SchemaTooNewError, match=too_new):
        open_registry(url)


def test_other_sqlite_files_are_refused_untouched(tmp_path):
    other = tmp_path / "app.db"
    raw = sqlite3.connect(other)
    raw.execute("CREATE TABLE users (name TEXT)")
    raw.commit()
    raw.close()
    before = other.read_bytes()
    refused = r"not a compressgate registry: it holds tables users; point `registry =`"
    with pytest.raises(NotARegistryError, match=refused):
        open_registry(f"sqlite:///{other}")
    assert other.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(NotARegistryError, match="not a compressgate registry"):
        open_registry(f"sqlite:///{text}")
    assert text.read_text().startswith("these are my notes")


def test_urls(tmp_path):
    with pytest.raises(RegistryError, match="not supported: use sqlite:///"):
        open_registry("postgres://db/registry")
    with pytest.raises(RegistryError, match="no registry at .*missing.db: run `pytest --compress-gate`"):
        open_registry(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert not (tmp_path / "missing.db").exists()
    with open_registry("sqlite:///nested/registry.db", base_dir=tmp_path) as registry:
        assert registry.path == tmp_path / "nested" / "registry.db"
    with open_registry("sqlite:///:memory:") as memory:
        memory.record_artifact(artifact("a"))
        assert len(memory.list_artifacts()) == 1


# -- several processes at once -----------------------------------------------------------------


def test_concurrent_writers_lose_nothing(tmp_path, capsys):
    workers, per_worker = 4, 15
    url = f"sqlite:///{tmp_path / 'shared' / 'registry.db'}"  # not yet there: the workers race to create it
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=write_from_process, args=(url, w, per_worker, barrier, queue))
                 for w in range(workers)]
    for p in processes:
        p.start()
    results = [queue.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    with open_registry(url) as registry:
        artifacts = registry.list_artifacts()
        shared = registry.show(key_for("shared"))
        assert registry.schema_version() == LATEST
    assert len(artifacts) == 1 + workers * per_worker
    own = [d for d in artifacts if d.key != shared.key]
    assert all(len(d.evaluations) == 3 and d.verdict is Verdict.PASS for d in own)
    assert len(shared.evaluations) == workers * per_worker
    decisions_per_worker = 2 * len(range(0, per_worker, 4))
    assert len(shared.approvals) == workers * decisions_per_worker
    assert len({a.id for a in shared.approvals}) == len(shared.approvals)
    writes = sum(w for _, w, _ in results)
    slowest = max(s for _, _, s in results)
    with capsys.disabled():
        print(f"\n[registry concurrency] {workers} processes, {writes} write transactions in {slowest:.2f}s "
              f"({writes / slowest:.0f} commits/s), 0 lost")
