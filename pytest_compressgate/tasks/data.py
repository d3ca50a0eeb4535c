"""Load a task's examples from the team's own data through ``datasets``.

A local file is read with the matching ``datasets`` builder (json, csv, parquet, text); anything else
is passed to ``load_dataset`` as a name, so the real loading code path is the one users get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressors.errors import ConfigError

BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".txt": "text"}


def load_rows(data: str, *, split: str = "train", max_examples: int | None = None, where: str = "data"):
    """A ``datasets.Dataset`` for ``data`` (a local file, a local directory, or a data set name)."""
    import datasets

    path = Path(data)
    if path.is_file():
        builder = BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise ConfigError(f"{where} = {data!r}: cannot read {path.suffix!r} files; use one of {', '.join(BUILDERS)}")
        kwargs: dict[str, Any] = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
        dataset = datasets.load_dataset(builder, data_files={split: str(path)}, split=split, **kwargs)
    elif path.is_dir():
        dataset = datasets.load_dataset(str(path), split=split)
    else:
        if "/" in data or data.endswith(tuple(BUILDERS)):
            if not path.exists() and data.endswith(tuple(BUILDERS)):
                raise ConfigError(f"{where} = {data!r}: no such file (paths are relative to the config file)")
        dataset = datasets.load_dataset(data, split=split)
    if max_examples is not None:
        dataset = dataset.select(range(min(max_examples, len(dataset))))
    return dataset


def require_columns(dataset, columns: dict[str, str], where: str) -> None:
    for key, column in columns.items():
        if column not in dataset.column_names:
            raise ConfigError(
                f"{where}.{key} = {column!r}: the data has no such column; columns: {', '.join(dataset.column_names)}"
            )
