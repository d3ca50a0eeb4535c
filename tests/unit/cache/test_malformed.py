"""Nothing malformed is trusted or kept: markers and memos of the wrong JSON shape are rebuilt with a
warning, documents that fail their check never enter the cache, killed builds' directories are swept,
and a cache that cannot be written still serves its whole entries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_compressgate.cache import CacheCorruptionWarning, CacheStore, hash_path
from pytest_compressgate.cache.documents import predictions_problem
from pytest_compressgate.cache.store import CacheValueError
from tests.unit.cache.test_store import writer as build_text


@pytest.mark.parametrize("marker", ["[]", "null", "7", '"files"', '{"files": []}', '{"files": {"weights.bin": 5}}',
                                    '{"files": {"weights.bin": [7, "x", "y"]}}', '{"fil', ""])
def test_a_malformed_marker_is_rebuilt_with_a_warning(tmp_path: Path, marker: str) -> None:
    store, calls = CacheStore(tmp_path), []
    path, _ = store.get_or_build("a", "k", build_text("payload", calls))
    (path / ".complete").write_text(marker)
    with pytest.warns(CacheCorruptionWarning, match="completion marker"):
        again, hit = store.get_or_build("a", "k", build_text("payload", calls))
    assert not hit and len(calls) == 2 and store.problem(again) is None


@pytest.mark.parametrize("memo", ["[]", "null", '"x"', "{not json", '{"%s": []}', '{"%s": {"signature": 1}}'])
def test_a_malformed_digest_memo_is_rebuilt(tmp_path: Path, memo: str) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    truth = hash_path(model)
    memo_path = tmp_path / "digests.json"
    memo_path.write_text(memo.replace("%s", str(model.resolve())))
    if memo.startswith("{") and "%s" in memo:  # a JSON object whose entry is malformed: silently recomputed
        assert hash_path(model, memo=memo_path) == truth
    else:
        with pytest.warns(CacheCorruptionWarning, match="digest memo"):
            assert hash_path(model, memo=memo_path) == truth
    assert json.loads(memo_path.read_text())[str(model.resolve())]["sha256"] == truth


def test_wrong_length_predictions_are_never_cached(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    with pytest.raises(CacheValueError, match="0 predictions for 150 examples"):
        store.get_or_build_json("predictions", "k", lambda: {"values": []},
                                check=lambda d: predictions_problem(d, 150))
    assert store.lookup("predictions", "k") is None
    data, hit = store.get_or_build_json("predictions", "k", lambda: {"values": [1] * 150},
                                        check=lambda d: predictions_problem(d, 150))
    assert not hit and len(data["values"]) == 150


def test_a_stored_document_that_fails_its_check_is_rebuilt(tmp_path: Path) -> None:
    """An entry written before the check existed (the batch_size = -4 run's empty predictions)."""
    store = CacheStore(tmp_path)
    store.get_or_build_json("predictions", "k", lambda: {"values": []})
    with pytest.warns(CacheCorruptionWarning, match="0 predictions for 3 examples"):
        data, hit = store.get_or_build_json("predictions", "k", lambda: {"values": [0, 1, 2]},
                                            check=lambda d: predictions_problem(d, 3))
    assert not hit and data["values"] == [0, 1, 2]
    assert store.get_or_build_json("predictions", "k", lambda: {"values": []},
                                   check=lambda d: predictions_problem(d, 3)) == (data, True)


def test_unreadable_json_data_is_rebuilt(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    store.get_or_build_json("examples", "k", lambda: {"inputs": ["a"], "references": [0]})
    entry = store.path("examples", "k")
    (entry / "data.json").write_text("{trunc")  # same size would not matter: the mtime changed, sha256 differs
    with pytest.warns(CacheCorruptionWarning):
        data, hit = store.get_or_build_json("examples", "k", lambda: {"inputs": ["b"], "references": [1]})
    assert not hit and data["inputs"] == ["b"]


KILLED_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pytest_compressgate.cache import CacheStore

    def build(tmp):
        tmp.mkdir(parents=True)
        (tmp / "half.bin").write_bytes(b"x" * 1000)
        print("building", flush=True)
        time.sleep(60)

    CacheStore(sys.argv[1]).get_or_build("artifacts", "k", build)
""")


def killed_build(root: Path) -> None:
    """A real build process, SIGKILLed mid-write (no finally clause runs)."""
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(root)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "building"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_killed_build_leaves_a_directory_that_the_next_build_sweeps(tmp_path: Path) -> None:
    killed_build(tmp_path)
    leftovers = list((tmp_path / "artifacts").glob(".k.tmp-*"))
    assert len(leftovers) == 1 and (leftovers[0] / "half.bin").is_file()
    store, calls = CacheStore(tmp_path), []
    assert store.lookup("artifacts", "k") is None
    path, hit = store.get_or_build("artifacts", "k", build_text("whole", calls))
    assert not hit and (path / "weights.bin").read_text() == "whole"
    assert not list((tmp_path / "artifacts").glob(".k.tmp-*"))


def test_sweep_removes_dead_builds_and_keeps_live_ones(tmp_path: Path) -> None:
    from filelock import FileLock

    killed_build(tmp_path)
    live = tmp_path / "artifacts" / ".live.tmp-1-abc"
    live.mkdir()
    with FileLock(str(tmp_path / ".locks" / "artifacts-live.lock")):  # a build of "live" in progress
        assert CacheStore(tmp_path).sweep() == 1
    assert live.is_dir() and not list((tmp_path / "artifacts").glob(".k.tmp-*"))


READ_ONLY_RUN = textwrap.dedent("""
    import json, sys, warnings
    from pytest_compressgate.cache import CacheStore

    store = CacheStore(sys.argv[1])
    def build(tmp):
        tmp.mkdir(parents=True)
        (tmp / "weights.bin").write_text("new")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hit_path, hit = store.get_or_build("a", "warm", build)
        miss_path, miss_hit = store.get_or_build("a", "cold", build)
        doc, doc_hit = store.get_or_build_json("p", "cold", lambda: {"values": [1]})
    print(json.dumps({"hit": hit, "warm": (hit_path / "weights.bin").read_text(), "miss_hit": miss_hit,
                      "inside": str(miss_path).startswith(sys.argv[1]), "miss": (miss_path / "weights.bin").read_text(),
                      "doc": doc, "warnings": [type(w.message).__name__ for w in seen]}))
""")


def read_only_command(args: list[str]) -> list[str]:
    """Root writes anywhere whatever the mode bits; without CAP_DAC_OVERRIDE it obeys them like anyone."""
    if os.geteuid() != 0:
        return args
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *args]


def test_a_read_only_cache_serves_whole_entries_and_builds_misses_outside(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    CacheStore(root).get_or_build("a", "warm", build_text("cached", []))
    for p in [root, *root.rglob("*")]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    try:
        result = subprocess.run(read_only_command([sys.executable, "-c", READ_ONLY_RUN, str(root)]),
                                capture_output=True, text=True, timeout=120)
    finally:
        for p in [root, *root.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["hit"] and out["warm"] == "cached"
    assert not out["miss_hit"] and not out["inside"] and out["miss"] == "new" and out["doc"] == {"values": [1]}
    assert "CacheReadOnlyWarning" in out["warnings"]
    assert not (root / "a" / "cold").exists()


def test_documents_of_the_wrong_shape_are_named() -> None:
    from pytest_compressgate.cache.documents import examples_problem
    from pytest_compressgate.tasks import Examples

    assert predictions_problem([], 1) == "predictions are not a JSON object with a 'values' list"
    assert predictions_problem({"values": [1], "later": 1}, 1) == "predictions hold unknown fields ['later']"
    assert predictions_problem({"values": [1], "nonfinite": 0, "extra": {}}, 1) is None
    assert examples_problem({"inputs": ["a"], "references": []}) == "1 inputs but 0 references"
    assert examples_problem({"inputs": [], "references": []}) == "no examples"
    assert "that Examples does not have" in examples_problem({"inputs": ["a"], "references": [0], "doc_ids": []},
                                                             Examples)
