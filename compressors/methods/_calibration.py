"""Calibration texts from a local file (JSONL, JSON, CSV, TSV or plain text), shared by the calibrating methods.

A plain reader rather than ``datasets.load_dataset``: calibration needs a few hundred strings, and a
clear error naming the file, the line and the column beats a generic loader's traceback.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import ConfigError

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt")


def check_suffix(path: str, where: str) -> None:
    """Reject an unsupported file type while the config is parsed, before any model is loaded
    (a ValueError, which the config parser turns into a ConfigError naming the step)."""
    if not str(path).lower().endswith(SUFFIXES):
        raise ValueError(f"{where} = {path!r}: expected a {', '.join(SUFFIXES)} file")


def read_texts(path: str | Path, *, text_column: str, num_samples: int, where: str = "calibration") -> list[str]:
    """The first ``num_samples`` non-empty texts of ``path``; a missing file or column is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{where} = {str(path)!r}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    elif suffix in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ","))
        texts = [_column(row, text_column, path, i + 2) for i, row in enumerate(rows)]
    else:
        texts = [_column(row, text_column, path, i + 1) for i, row in enumerate(json_rows(path))]
    texts = [t for t in texts if t][:num_samples]
    if not texts:
        raise ConfigError(f"{where} = {str(path)!r} holds no non-empty texts")
    return texts


def texts_for(calibration: str | None, *, text_column: str, num_samples: int, where: str) -> list[str]:
    """Texts from the step's own calibration file. There is no other source: without the file the step
    stops here, before any model loads, with a ConfigError naming the key."""
    if calibration is None:
        raise ConfigError(f"{where} is required: give a JSONL/CSV/TXT file of representative texts, "
                          f"e.g. calibration = \"data/calib.jsonl\"")
    return read_texts(calibration, text_column=text_column, num_samples=num_samples, where=where)


def json_rows(path: Path) -> list:
    raw = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(raw)
        return data if isinstance(data, list) else [data]
    rows = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return rows


def _column(row, column: str, path: Path, lineno: int) -> str:
    if isinstance(row, str):
        return row.strip()
    if not isinstance(row, dict) or column not in row:
        keys = ", ".join(sorted(row)) if isinstance(row, dict) else type(row).__name__
        raise ConfigError(f"{path}:{lineno}: no {column!r} column (found: {keys}); set text_column")
    return str(row[column] or "").strip()
