"""Reading the user's local text data for methods that train or calibrate, and the bits of a training loop
they share (device, seeding, progress). A helper module: it registers no method.

Only local JSONL/JSON/CSV/TSV files are read, with the standard library: a recipe must not depend on a hub,
and ``compressors`` must not depend on the gate's ``datasets`` loader.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._calibration import json_rows

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


def read_rows(path: str, *, where: str) -> list[dict[str, Any]]:
    """The rows of a local JSONL, JSON (a list of objects), CSV or TSV file."""
    file = Path(path)
    if file.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{where} = {path!r}: cannot read {file.suffix!r} files; use one of {', '.join(SUFFIXES)}")
    if not file.is_file():
        raise ConfigError(f"{where} = {path!r}: no such file")
    suffix = file.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = json_rows(file)  # one JSON reader for the package: errors name the file and line
    else:
        with file.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ","))
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows) or not rows:
        raise ConfigError(f"{where} = {path!r}: expected a non-empty list of records with named columns")
    return rows


def texts_of(rows: list[dict[str, Any]], column: str, *, where: str) -> list[str]:
    if column not in rows[0]:
        raise ConfigError(f"{where} = {column!r}: the data has no such column; columns: {', '.join(rows[0])}")
    return [str(r[column]) for r in rows]


def labels_of(
    rows: list[dict[str, Any]], column: str | None, label2id: dict[str, int], *, where: str
) -> list[int] | None:
    """Class ids for ``column`` (names or ids), or None when the column is unset or absent from the data."""
    if column is None or column not in rows[0]:
        return None
    ids = set(label2id.values())
    out = []
    for i, row in enumerate(rows):
        value = row.get(column)
        if isinstance(value, str) and value in label2id:
            out.append(label2id[value])
        elif (text := str(value)).isdigit() and int(text) in ids:  # ids as ints, or as text in a CSV
            out.append(int(text))
        else:
            raise ConfigError(
                f"{where} = {column!r}: row {i} has label {value!r}, which the model does not know; "
                f"its labels: {', '.join(map(str, label2id))}"
            )
    return out


def batches(n: int, size: int, *, order: Sequence[int] | None = None) -> Iterator[list[int]]:
    idx = list(order) if order is not None else list(range(n))
    for start in range(0, n, size):
        yield idx[start:start + size]


def pick_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextmanager
def progress_bar(description: str, total: int):
    """A transient rich progress bar; silent when stderr is not a terminal (CI logs stay clean)."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(file=sys.stderr)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)
