"""Baselines: one run's results kept under a name, and later runs' rows compared with them.

    pytest --compress-gate --compress-gate-save-baseline=main    # on the main branch
    pytest --compress-gate --compress-gate-baseline=main         # on a pull request

A baseline is a compressgate.json report. A name is kept in ``<cache_dir>/baselines/<name>.json``; a
path ending in ``.json`` is used as it is, so the report a main-branch CI job uploaded can serve as the
baseline of a pull request's job. Each row then says how its drop moved since the baseline, or why it
cannot be compared (new row, different examples).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .format import MISSING
from .json_report import SCHEMA, results_of, write_json

if TYPE_CHECKING:
    from ..result import GateResult


class BaselineError(Exception):
    """A baseline that cannot be read. It carries the ref the user gave and the problem; each caller says it
    in its own flag's words: ``exc.message("--compress-gate-baseline=")`` or ``exc.message("--baseline ")``."""

    def __init__(self, ref: str, problem: str, *, fix: str | None = None) -> None:
        self.ref, self.problem, self.fix = ref, problem, fix
        super().__init__(self.message("baseline "))

    def message(self, flag: str) -> str:
        """One line: ``flag`` and the ref as the user typed them, what is wrong, and how to fix it."""
        return f"{flag}{self.ref}: {self.problem}" + (f". {self.fix}" if self.fix else "")


def baseline_path(ref: str, *, cache_dir: Path, root: Path) -> Path:
    if ref.endswith(".json"):
        path = Path(ref)
        return path if path.is_absolute() else root / path
    return cache_dir / "baselines" / f"{ref}.json"


def load_baseline(ref: str, path: Path) -> list[GateResult]:
    """The results of the report at ``path``: any compressgate.json, rows of older runs included."""
    if not path.is_file():
        saved = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        raise BaselineError(ref, f"no baseline at {path} (saved here: {', '.join(saved) or 'none'})",
                            fix=f"Save one with `pytest --compress-gate --compress-gate-save-baseline={ref}`")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(ref, f"{path} is not readable JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA \
            or not isinstance(document.get("comparisons"), list):
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise BaselineError(ref, f"{path} is not a compress gate report (schema {SCHEMA!r} expected, "
                                 f"found {found!r})")
    try:
        return results_of(document["comparisons"])
    except ValueError as exc:
        raise BaselineError(ref, f"{path} {exc}", fix="rerun the gate that wrote it") from None


def save_baseline(path: Path, results: Sequence[GateResult]) -> Path:
    """Keep this run's results (without their baseline notes) as a baseline; written atomically."""
    return write_json(path, [dataclasses.replace(r, baseline=None) for r in results])


def _row_key(r: GateResult) -> tuple:
    return r.task, r.target, r.stage


def note(result: GateResult, baseline: Sequence[GateResult], ref: str) -> dict[str, Any]:
    """How ``result``'s drop moved since the baseline run: the baseline's drop and the change (positive =
    worse, in metric units), or why the two cannot be compared. Pure: nothing is changed."""
    old = next((r for r in baseline if _row_key(r) == _row_key(result)), None)
    if old is None:
        return {"ref": ref, "status": "new"}
    keys, old_keys = result.keys or {}, old.keys or {}
    then = {"ref": ref, "drop": old.drop, "compressed_score": old.compressed_score, "passed": old.passed}
    if keys.get("examples") != old_keys.get("examples") or result.metric != old.metric:
        return {**then, "status": "different examples"}
    same_model = keys.get("artifact") == old_keys.get("artifact") and keys.get("source") == old_keys.get("source")
    return {**then, "status": "same models" if same_model else "rebuilt", "drop_change": result.drop - old.drop}


def attach(results: Sequence[GateResult], baseline: Sequence[GateResult], ref: str) -> None:
    """Set each result's ``baseline`` (see ``note``)."""
    for r in results:
        r.baseline = note(r, baseline, ref)


def cell(r: GateResult) -> str:
    """The table cell: the drop's change since the baseline, or why there is none."""
    if r.baseline is None:
        return MISSING
    if "drop_change" not in r.baseline:
        return r.baseline["status"]
    return f"{r.baseline['drop_change']:+.4f}"
