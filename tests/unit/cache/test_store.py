"""The atomic store: builds once, never serves a partial or corrupted entry, rebuilds with a warning."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pytest_compressgate.cache import CacheCorruptionWarning, CacheStore, make_key


def writer(content: str, calls: list[int]):
    def build(tmp: Path) -> None:
        calls.append(1)
        tmp.mkdir(parents=True)
        (tmp / "weights.bin").write_text(content)

    return build


def test_builds_once_then_hits(tmp_path: Path) -> None:
    store, calls = CacheStore(tmp_path), []
    path, hit = store.get_or_build("artifacts", "k1", writer("abc", calls))
    assert not hit and (path / "weights.bin").read_text() == "abc"
    path2, hit2 = store.get_or_build("artifacts", "k1", writer("zzz", calls))
    assert hit2 and path2 == path and len(calls) == 1


def test_rebuild_ignores_the_cache(tmp_path: Path) -> None:
    store, calls = CacheStore(tmp_path), []
    store.get_or_build("a", "k", writer("one", calls))
    path, hit = store.get_or_build("a", "k", writer("two", calls), rebuild=True)
    assert not hit and (path / "weights.bin").read_text() == "two"


def test_failed_build_leaves_nothing_usable(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)

    def broken(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        (tmp / "half.bin").write_text("partial")
        raise KeyboardInterrupt  # a killed build

    with pytest.raises(KeyboardInterrupt):
        store.get_or_build("a", "k", broken)
    assert store.lookup("a", "k") is None
    assert not any(p.name.startswith(".k.tmp") for p in (tmp_path / "a").iterdir())


@pytest.mark.parametrize("damage", ["truncate", "flip", "extra", "marker"])
def test_corrupted_entry_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    store, calls = CacheStore(tmp_path), []
    path, _ = store.get_or_build("a", "k", writer("payload", calls))
    if damage == "truncate":
        (path / "weights.bin").write_text("pay")
    elif damage == "flip":
        (path / "weights.bin").write_text("paylOad")
    elif damage == "extra":
        (path / "stray.tmp").write_text("x")
    else:
        (path / ".complete").unlink()
    assert store.lookup("a", "k") is None
    with pytest.warns(CacheCorruptionWarning, match="unusable"):
        path, hit = store.get_or_build("a", "k", writer("payload", calls))
    assert not hit and len(calls) == 2 and store.lookup("a", "k") == path


def test_parallel_requests_build_once(tmp_path: Path) -> None:
    store, calls = CacheStore(tmp_path), []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        store.get_or_build("a", "k", writer("same", calls))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_json_entries(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    data, hit = store.get_or_build_json("predictions", "p", lambda: {"values": [1, 2]})
    assert data == {"values": [1, 2]} and not hit
    data, hit = store.get_or_build_json("predictions", "p", lambda: pytest.fail("must not rebuild"))
    assert hit and data == {"values": [1, 2]}


def test_keys_change_with_any_part_and_ignore_order() -> None:
    base = make_key(a=1, b={"x": [1, 2], "y": "z"})
    assert base == make_key(b={"y": "z", "x": [1, 2]}, a=1)
    assert base != make_key(a=2, b={"x": [1, 2], "y": "z"})
    assert base != make_key(a=1, b={"x": [2, 1], "y": "z"})


def test_builds_are_logged(tmp_path: Path) -> None:
    store, calls = CacheStore(tmp_path), []
    store.get_or_build("artifacts", "k1", writer("a", calls))
    store.get_or_build("artifacts", "k1", writer("a", calls))
    store.get_or_build("predictions", "k2", writer("b", calls))
    assert [(b["kind"], b["key"]) for b in store.builds()] == [("artifacts", "k1"), ("predictions", "k2")]


def test_hash_memo_follows_the_files(tmp_path: Path) -> None:
    import os

    from pytest_compressgate.cache import hash_path

    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"abc")
    memo = tmp_path / "digests.json"
    first = hash_path(model, memo=memo)
    assert hash_path(model, memo=memo) == first == hash_path(model)
    (model / "w.bin").write_bytes(b"abd")
    os.utime(model / "w.bin", ns=(1, 1))  # a new signature, whatever the clock's resolution
    assert hash_path(model, memo=memo) != first
