"""An atomic, content-keyed store of directories, safe for parallel workers.

An entry is a directory ``<root>/<kind>/<key>`` holding the built files and a ``.complete`` manifest
of their sizes and sha256. It is built in a temporary directory and renamed into place under a
per-key file lock, so two pytest-xdist workers build it once, a killed build leaves only a temporary
directory that no reader ever looks at (and the next build of that key, or ``sweep``, removes it), and
an entry whose files no longer match, or whose marker is not the JSON it should be, is rebuilt.

A cache that cannot be written (a read-only mount in CI, another user's directory) still serves its
whole entries; a miss there is built in a private temporary directory, used, and not kept.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMPLETE = ".complete"
TMP_TAG = ".tmp-"  # in the names of directories being built: ".<key>.tmp-<pid>-<random>"


class CacheCorruptionWarning(UserWarning):
    """A cache entry did not match its manifest (or held malformed data) and was rebuilt."""


class CacheReadOnlyWarning(UserWarning):
    """The cache cannot be written: a missing entry was built outside it and is not kept."""


class CacheValueError(ValueError):
    """A build produced data that fails its check; it is not stored (so no later run can trust it)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != COMPLETE)


def _marker_files(marker: Path) -> dict[str, tuple[int, str, list[int]]] | None:
    """The marker's ``{name: (size, sha256, [mtime_ns])}``, or None when it is not JSON of that shape."""
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return None
    out = {}
    for name, row in files.items():
        if not (isinstance(row, list) and len(row) in (2, 3) and isinstance(row[0], int)
                and isinstance(row[1], str) and all(isinstance(x, int) for x in row[2:])):
            return None
        out[name] = (row[0], row[1], list(row[2:]))
    return out


class CacheStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.read_only_reason: str | None = None  # set once a write into the cache failed

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def _lock_file(self, kind: str, key: str) -> str:
        """The per-key lock every builder of ``kind/key`` (in any process) takes, and ``sweep`` tests."""
        return str(self.root / ".locks" / f"{kind}-{key}.lock")

    def problem(self, entry: Path) -> str | None:
        """Why ``entry`` cannot be used, or None when it is whole."""
        marker = entry / COMPLETE
        if not marker.is_file():
            return "it has no completion marker (an interrupted build?)"
        expected = _marker_files(marker)
        if expected is None:
            return "its completion marker is unreadable or not the JSON a build writes"
        actual = {str(p.relative_to(entry)): p for p in _files(entry)}
        if set(actual) != set(expected):
            return "its files differ from those it was built with"
        for name, (size, digest, written) in expected.items():
            stat = actual[name].stat()
            if stat.st_size != size:
                return f"{name} changed after it was written"
            # Untouched since written (same mtime): trust the digest, as make and git's index do.
            # Anything that wrote to the file changed its mtime and gets the full check.
            if written != [stat.st_mtime_ns] and _sha256(actual[name]) != digest:
                return f"{name} changed after it was written"
        return None

    def lookup(self, kind: str, key: str) -> Path | None:
        entry = self.path(kind, key)
        return entry if entry.is_dir() and self.problem(entry) is None else None

    def get_or_build(
        self, kind: str, key: str, build: Callable[[Path], None], *, rebuild: bool = False
    ) -> tuple[Path, bool]:
        """The entry's path and whether it was a hit. ``build(tmp)`` must create ``tmp`` and fill it."""
        from filelock import FileLock

        entry = self.path(kind, key)
        try:
            (self.root / ".locks").mkdir(parents=True, exist_ok=True)
            lock = FileLock(self._lock_file(kind, key))
            lock.acquire()
        except OSError as exc:  # read-only: serve what is whole, build the rest outside the cache
            self._note_read_only(exc)
            if entry.is_dir() and not rebuild and self.problem(entry) is None:
                return entry, True
            return self._build_outside(kind, key, build), False
        try:
            if entry.exists() and not rebuild:
                problem = self.problem(entry)
                if problem is None:
                    return entry, True
                warnings.warn(f"cache entry {entry} is unusable ({problem}); rebuilding it",
                              CacheCorruptionWarning, stacklevel=2)
            self._sweep_key(entry)  # under this key's lock, any temporary directory of it is a dead build's
            tmp = entry.with_name(f".{key}{TMP_TAG}{os.getpid()}-{uuid.uuid4().hex[:8]}")
            started = time.perf_counter()
            try:
                self._fill(tmp, kind, key, build)
                if entry.exists():
                    shutil.rmtree(entry)
                os.replace(tmp, entry)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            self._log(kind=kind, key=key, seconds=round(time.perf_counter() - started, 3))
        finally:
            lock.release()
        return entry, False

    def _fill(self, tmp: Path, kind: str, key: str, build: Callable[[Path], None]) -> None:
        build(tmp)
        if not tmp.is_dir():
            raise RuntimeError(f"cache build for {kind}/{key} did not create {tmp}")
        files = {str(p.relative_to(tmp)): (p.stat().st_size, _sha256(p), p.stat().st_mtime_ns)
                 for p in _files(tmp)}
        (tmp / COMPLETE).write_text(json.dumps({"files": files}, indent=1, sort_keys=True))

    def _build_outside(self, kind: str, key: str, build: Callable[[Path], None]) -> Path:
        warnings.warn(f"cache {self.root} cannot be written ({self.read_only_reason}); building {kind}/{key} "
                      "in a temporary directory, used by this run only", CacheReadOnlyWarning, stacklevel=3)
        scratch = Path(tempfile.mkdtemp(prefix="compressgate-"))
        atexit.register(shutil.rmtree, scratch, True)
        entry = scratch / kind / key
        entry.parent.mkdir(parents=True)
        self._fill(entry, kind, key, build)
        return entry

    def _note_read_only(self, exc: OSError) -> None:
        self.read_only_reason = self.read_only_reason or f"{type(exc).__name__}: {exc.strerror or exc}"

    def _sweep_key(self, entry: Path) -> None:
        for tmp in entry.parent.glob(f".{entry.name}{TMP_TAG}*"):
            shutil.rmtree(tmp, ignore_errors=True)

    def sweep(self) -> int:
        """Remove temporary directories left by killed builds; returns how many. A directory is taken only
        while its key's lock is free, so a build in progress (in any process) keeps its own."""
        from filelock import FileLock, Timeout

        removed = 0
        if not self.root.is_dir():
            return 0
        for kind_dir in (p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for tmp in kind_dir.glob(f".*{TMP_TAG}*"):
                key = tmp.name[1:].split(TMP_TAG)[0]
                try:
                    with FileLock(self._lock_file(kind_dir.name, key), timeout=0):
                        shutil.rmtree(tmp)
                        removed += 1
                except (Timeout, OSError):
                    continue  # being built right now, or a cache this process cannot write
        return removed

    def _log(self, **event: object) -> None:
        """Append what was built, so a run can tell which entries it rebuilt and what they cost."""
        try:
            with open(self.root / "builds.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({**event, "pid": os.getpid(), "time": time.time()}) + "\n")
        except OSError as exc:  # the entry is built; only its log line is lost
            self._note_read_only(exc)

    def builds(self) -> list[dict]:
        """Logged builds; a line a killed writer left half-written is skipped."""
        log = self.root / "builds.jsonl"
        if not log.is_file():
            return []
        out = []
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                out.append(event)
        return out

    def get_or_build_json(self, kind: str, key: str, build: Callable[[], object], *, rebuild: bool = False,
                          check: Callable[[Any], str | None] | None = None) -> tuple[Any, bool]:
        """A JSON document cached under ``key``: ``build()`` is called only on a miss.

        ``check(data)`` says what is wrong with a document (or None): a freshly built one that fails it
        raises ``CacheValueError`` and is not stored; a stored one that fails it is rebuilt with a warning.
        """

        def write(tmp: Path) -> None:
            data = build()
            problem = check(data) if check else None
            if problem:
                raise CacheValueError(f"{kind} not cached: {problem}")
            tmp.mkdir(parents=True)
            (tmp / "data.json").write_text(json.dumps(data))

        entry, hit = self.get_or_build(kind, key, write, rebuild=rebuild)
        problem = None
        try:
            data = json.loads((entry / "data.json").read_text())
        except (OSError, ValueError) as exc:
            problem = f"data.json is not readable JSON ({exc})"
        else:
            problem = check(data) if check else None
        if problem is None:
            return data, hit
        if not hit:
            raise CacheValueError(f"{kind}/{key}: {problem}")
        warnings.warn(f"cache entry {entry} is unusable ({problem}); rebuilding it", CacheCorruptionWarning,
                      stacklevel=2)
        return self.get_or_build_json(kind, key, build, rebuild=True, check=check)
