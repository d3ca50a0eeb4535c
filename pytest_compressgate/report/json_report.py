"""The machine-readable report: every result with its numbers, plus the environment.

Each of ``comparisons`` is a result's ``GateResult.to_json()`` (which carries its own ``schema``); the report's
``SCHEMA`` names the document around them. Rows of reports written before results carried their checks
read back through ``GateResult.from_json``, so the document's schema name stayed.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..result import GateResult

SCHEMA = "compressgate-report/1"


def write_json(path: Path, results: Sequence[GateResult], *, extra: dict[str, Any] | None = None) -> Path:
    from ..cache import library_versions

    document = {
        "schema": SCHEMA,
        "passed": all(r.passed for r in results),
        "comparisons": [r.to_json() for r in results],
        "machine": {"python": platform.python_version(), "machine": platform.machine()},
        "libraries": library_versions(),
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str))
    tmp.replace(path)
    return path


def results_of(rows: Sequence[Any]) -> list[GateResult]:
    """The results a report's ``comparisons`` hold, rows of older reports included; ``ValueError`` names a row
    that is not one."""
    from ..result import GateResult

    try:
        return [GateResult.from_json(row) for row in rows]
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"holds a row that is not a gate result ({type(exc).__name__}: {exc})") from None
