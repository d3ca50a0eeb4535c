"""Load a task's examples from the team's own data through ``datasets``.

A local file is read with the matching ``datasets`` builder (json, csv, parquet, text); anything else
is passed to ``load_dataset`` as a name, so the real loading code path is the one users get.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from compressors.errors import ConfigError

BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".txt": "text"}


def load_rows(data: str, *, split: str = "train", max_examples: int | None = None, where: str = "data"):
    """A ``datasets.Dataset`` for ``data`` (a local file, a local directory, or a data set name).

    Whatever goes wrong reading it is a ConfigError naming ``where``, the file and the library's reason
    (an empty file, a malformed line, a name that is neither a file nor a data set), never a traceback.
    """
    import datasets

    with _quiet(datasets):
        return _load_rows(datasets, data, split=split, max_examples=max_examples, where=where)


@contextlib.contextmanager
def _quiet(datasets):
    """No progress bars or logged parser errors on the terminal: a failure is one ConfigError line."""
    bars_were_on = datasets.is_progress_bar_enabled()
    level = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(level)
        if bars_were_on:
            datasets.enable_progress_bars()


def _load_rows(datasets, data: str, *, split: str, max_examples: int | None, where: str):
    path = Path(data)
    try:
        if path.is_file():
            builder = BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise ConfigError(
                    f"{where} = {data!r}: cannot read {path.suffix!r} files; use one of {', '.join(BUILDERS)}")
            if not path.read_bytes().strip():
                raise ConfigError(f"{where} = {data!r}: the file is empty; give one example per row")
            kwargs: dict[str, Any] = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
            dataset = datasets.load_dataset(builder, data_files={split: str(path)}, split=split, **kwargs)
        elif path.is_dir():
            dataset = datasets.load_dataset(str(path), split=split)
        else:
            if data.endswith(tuple(BUILDERS)):
                raise ConfigError(f"{where} = {data!r}: no such file (paths are relative to the config file)")
            dataset = datasets.load_dataset(data, split=split)
    except ConfigError:
        raise
    except Exception as exc:  # datasets wraps parser errors in several types; the message is what matters
        raise ConfigError(f"{where} = {data!r}: cannot be read ({_reason(exc)})") from None
    if len(dataset) == 0:
        raise ConfigError(f"{where} = {data!r}: split {split!r} has no rows")
    if max_examples is not None:
        dataset = dataset.select(range(min(max_examples, len(dataset))))
    return dataset


def _reason(exc: BaseException) -> str:
    """The innermost cause's first line: datasets' own wrapper says only that generation failed."""
    for _ in range(20):  # bounded: a cycle of causes must not hang the error path
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def require_columns(dataset, columns: dict[str, str], where: str) -> None:
    for key, column in columns.items():
        if column not in dataset.column_names:
            raise ConfigError(
                f"{where}.{key} = {column!r}: the data has no such column; columns: {', '.join(dataset.column_names)}"
            )
