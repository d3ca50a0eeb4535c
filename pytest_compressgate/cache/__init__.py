"""Content-keyed cache of artifacts and predictions: keys, and an atomic store with a lock per key."""

from __future__ import annotations

from .keys import canonical, hash_path, library_versions, make_key
from .store import CacheCorruptionWarning, CacheStore

__all__ = ["CacheCorruptionWarning", "CacheStore", "canonical", "hash_path", "library_versions", "make_key"]
