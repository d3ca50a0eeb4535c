"""Content keys: what a cached thing depends on, hashed. Change any part and the key changes."""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any


def canonical(obj: Any) -> str:
    """A stable JSON text for configs: sorted keys, enums as values, dataclasses as dicts."""

    def default(o: Any) -> Any:
        if isinstance(o, enum.Enum):
            return o.value
        if dataclasses.is_dataclass(o):
            return dataclasses.asdict(o)
        if isinstance(o, Path):
            return str(o)
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        raise TypeError(f"cannot put {type(o).__name__} into a cache key")

    return json.dumps(obj, sort_keys=True, default=default, separators=(",", ":"))


def make_key(**parts: Any) -> str:
    return hashlib.sha256(canonical(parts).encode()).hexdigest()[:32]


def hash_path(path: str | os.PathLike[str]) -> str:
    """sha256 over a file's bytes, or over a directory's files (relative names and bytes)."""
    path = Path(path)
    stat = path.stat()
    return _hash_path_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, _dir_signature(path))


def _dir_signature(path: Path) -> tuple:
    if not path.is_dir():
        return ()
    return tuple((str(p.relative_to(path)), p.stat().st_mtime_ns, p.stat().st_size)
                 for p in sorted(path.rglob("*")) if p.is_file())


@functools.lru_cache(maxsize=256)
def _hash_path_cached(path: str, mtime_ns: int, size: int, signature: tuple) -> str:
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root) if file != root else file.name).encode() + b"\0")
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    from compressors.base import CORE_LIBRARIES, library_versions as versions

    return versions(*CORE_LIBRARIES, "datasets", "scikit-learn", "numpy")
