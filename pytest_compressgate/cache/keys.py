"""Content keys: what a cached thing depends on, hashed. Change any part and the key changes."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import json
import os
import uuid
import warnings
from pathlib import Path
from typing import Any


def canonical(obj: Any) -> str:
    """A stable JSON text for configs: sorted keys, enums as values, dataclasses as dicts."""

    def default(o: Any) -> Any:
        if isinstance(o, enum.Enum):
            return o.value
        if dataclasses.is_dataclass(o) and not isinstance(o, type):  # an instance; a class is no config
            return dataclasses.asdict(o)
        if isinstance(o, Path):
            return str(o)
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        raise TypeError(f"cannot put {type(o).__name__} into a cache key")

    return json.dumps(obj, sort_keys=True, default=default, separators=(",", ":"))


def make_key(**parts: Any) -> str:
    return hashlib.sha256(canonical(parts).encode()).hexdigest()[:32]


def hash_path(path: str | os.PathLike[str], *, memo: str | os.PathLike[str] | None = None) -> str:
    """sha256 over a file's bytes, or over a directory's files (relative names and bytes).

    ``memo`` names a JSON file that remembers digests by the files' (name, size, mtime) signature, so a
    warm run does not re-read a model's weights; any write to a file changes its signature.
    """
    path = Path(path)
    stat = path.stat()
    signature = _dir_signature(path) or ((path.name, stat.st_mtime_ns, stat.st_size),)
    if memo is None:
        return _hash_path_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, signature)
    memo, name = Path(memo), str(path.resolve())
    known = _read_memo(memo)
    entry = known.get(name)
    if isinstance(entry, dict) and entry.get("signature") == canonical(signature) \
            and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = _hash_path_cached(name, stat.st_mtime_ns, stat.st_size, signature)
    known[name] = {"signature": canonical(signature), "sha256": digest}
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(known))
        os.replace(tmp, memo)
    except OSError:  # a read-only cache: the digest is right, only not remembered
        with contextlib.suppress(OSError):
            tmp.unlink()
    return digest


def _read_memo(memo: Path) -> dict[str, Any]:
    """The memo's entries; a memo that is not a JSON object (a killed writer's, a hand edit) is rebuilt."""
    try:
        known = json.loads(memo.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        known = exc
    if not isinstance(known, dict):
        from .store import CacheCorruptionWarning

        warnings.warn(f"digest memo {memo} is not a JSON object ({str(known)[:60]}); rebuilding it",
                      CacheCorruptionWarning, stacklevel=3)
        return {}
    return known


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
