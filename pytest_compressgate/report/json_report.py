"""The machine-readable report: every comparison with its numbers, plus the environment."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

SCHEMA = "compressgate-report/1"


def write_json(path: Path, comparisons: list[dict[str, Any]], *, extra: dict[str, Any] | None = None) -> Path:
    from ..cache import library_versions

    document = {
        "schema": SCHEMA,
        "passed": all(c["passed"] for c in comparisons),
        "comparisons": comparisons,
        "machine": {"python": platform.python_version(), "machine": platform.machine()},
        "libraries": library_versions(),
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str))
    tmp.replace(path)
    return path
