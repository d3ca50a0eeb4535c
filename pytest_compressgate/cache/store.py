"""An atomic, content-keyed store of directories, safe for parallel workers.

An entry is a directory ``<root>/<kind>/<key>`` holding the built files and a ``.complete`` manifest
of their sizes and sha256. It is built in a temporary directory and renamed into place under a
per-key file lock, so two pytest-xdist workers build it once, a killed build leaves only a temporary
directory that no reader ever looks at, and an entry whose files no longer match is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

COMPLETE = ".complete"


class CacheCorruptionWarning(UserWarning):
    """A cache entry did not match its manifest and was rebuilt."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != COMPLETE)


class CacheStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def problem(self, entry: Path) -> str | None:
        """Why ``entry`` cannot be used, or None when it is whole."""
        marker = entry / COMPLETE
        if not marker.is_file():
            return "it has no completion marker (an interrupted build?)"
        try:
            expected = json.loads(marker.read_text())["files"]
        except (ValueError, KeyError):
            return "its completion marker is unreadable"
        actual = {str(p.relative_to(entry)): p for p in _files(entry)}
        if set(actual) != set(expected):
            return "its files differ from those it was built with"
        for name, (size, digest, *written) in expected.items():
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
        (self.root / ".locks").mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / ".locks" / f"{kind}-{key}.lock")):
            if entry.exists() and not rebuild:
                problem = self.problem(entry)
                if problem is None:
                    return entry, True
                warnings.warn(f"cache entry {entry} is unusable ({problem}); rebuilding it",
                              CacheCorruptionWarning, stacklevel=2)
            tmp = entry.with_name(f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            started = time.perf_counter()
            try:
                build(tmp)
                if not tmp.is_dir():
                    raise RuntimeError(f"cache build for {kind}/{key} did not create {tmp}")
                files = {str(p.relative_to(tmp)): (p.stat().st_size, _sha256(p), p.stat().st_mtime_ns)
                         for p in _files(tmp)}
                (tmp / COMPLETE).write_text(json.dumps({"files": files}, indent=1, sort_keys=True))
                if entry.exists():
                    shutil.rmtree(entry)
                os.replace(tmp, entry)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            self._log(kind=kind, key=key, seconds=round(time.perf_counter() - started, 3))
        return entry, False

    def _log(self, **event: object) -> None:
        """Append what was built, so a run can tell which entries it rebuilt and what they cost."""
        with open(self.root / "builds.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**event, "pid": os.getpid(), "time": time.time()}) + "\n")

    def builds(self) -> list[dict]:
        log = self.root / "builds.jsonl"
        if not log.is_file():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]

    def get_or_build_json(self, kind: str, key: str, build: Callable[[], object], *, rebuild: bool = False):
        """A JSON document cached under ``key``: ``build()`` is called only on a miss."""

        def write(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            (tmp / "data.json").write_text(json.dumps(build()))

        entry, hit = self.get_or_build(kind, key, write, rebuild=rebuild)
        return json.loads((entry / "data.json").read_text()), hit
