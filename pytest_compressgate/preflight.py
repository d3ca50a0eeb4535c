"""Checks of the user's files made when the gate starts, before anything is built or scored.

The config loader checks types and ranges; this checks what the config points at: the source model
(a local-looking path that does not exist is an error, not a hub id; each safetensors file's header
parses), each task's data (exists, not empty, has the columns, labels the model knows) and the files
that recipe steps' and tasks' declared path fields name (``compressors.typed.path_field``). Every
failure is one ``ConfigError`` naming the key, the file and what would be valid, so
``pytest --compress-gate`` exits 4 with one line instead of failing every item with a traceback.
Nothing here imports torch; reading the data imports ``datasets`` only when its examples are not cached.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressors.errors import ConfigError

from .config.schema import looks_local

if TYPE_CHECKING:
    from .gate import GateSession

def check_safetensors(path: Path) -> str | None:
    """Why ``path`` is not a whole safetensors file (header length, JSON header, tensor offsets), or None."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"{size} bytes, shorter than the 8-byte header length"
            (length,) = struct.unpack("<Q", head)
            if length > size - 8 or length > 100_000_000:
                return f"its header claims {length} bytes but the file has {size}"
            header = json.loads(fh.read(length))
    except (OSError, ValueError) as exc:
        return f"its header is not JSON ({exc})"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    data = size - 8 - length
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1] <= data):
            return f"tensor {name!r} lies outside the file's {data} data bytes (truncated?)"
    return None


def check_source_dir(directory: Path, where: str = "source.model") -> None:
    if not (directory / "config.json").is_file() and not any(directory.glob("*.onnx")):
        raise ConfigError(f"{where}: {directory} holds no config.json: not a saved model "
                          "(save it with save_pretrained)")
    for file in sorted(directory.glob("*.safetensors")):
        problem = check_safetensors(file)
        if problem:
            raise ConfigError(f"{where}: {file} is not a valid safetensors file: {problem}; save the model again")


def remote_code_notice(directory: Path | None, model: str) -> str:
    """What ``trust_remote_code = true`` will run, said plainly."""
    files: list[str] = []
    auto_map: dict[str, Any] = {}
    if directory is not None and directory.is_dir():
        files = sorted(p.name for p in directory.glob("*.py"))
        try:
            auto_map = json.loads((directory / "config.json").read_text()).get("auto_map") or {}
        except (OSError, ValueError, AttributeError):
            auto_map = {}
    what = ", ".join(files) if files else "no .py files found in the model directory"
    mapped = f"; auto_map: {', '.join(f'{k} -> {v}' for k, v in sorted(auto_map.items()))}" if auto_map else ""
    return (f"source.trust_remote_code = true: transformers will import and run Python code shipped with "
            f"{model!r} ({what}{mapped}) when the source and every artifact load; turn it off unless you "
            "have read that code")


def check_data_file(data: str, resolved: str, root: Path, where: str, *, must_exist: bool = False) -> None:
    """``resolved`` (what the user wrote as ``data``) can be read and is not empty; a missing one is an error
    when it ``must_exist`` (a declared path) or looks like a local path (a data set name need not)."""
    path = Path(resolved)
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                start = fh.read(4096)
        except OSError as exc:
            raise ConfigError(f"{where} = {data!r}: cannot read {path} ({exc.strerror or exc})") from None
        if not start.strip():
            raise ConfigError(f"{where} = {data!r}: {path} is empty; give a file with one example per row")
        return
    if path.is_dir():
        return
    if must_exist or looks_local(data, root):
        raise ConfigError(f"{where} = {data!r}: no such file {root / data} (paths are relative to the config "
                          f"file; a data set name has no file suffix)")


def check_labels(session: GateSession, task_name: str, id2label: dict[int, str]) -> None:
    """Text-classification labels in the data must be the model's (names or ids), or every example fails."""
    task = session.task(task_name)
    if task.type != "text-classification" or not id2label:
        return
    references = session.examples(task_name).references
    where = f"tasks.{task_name}.label_column = {task.options.label_column!r}"
    names = set(id2label.values())
    if references and all(isinstance(r, str) for r in references):
        unknown = sorted(set(references) - names)
        if unknown:
            raise ConfigError(f"{where}: labels {unknown[:5]} are not the model's labels "
                              f"({', '.join(sorted(names))}); fix the data or the model's id2label")
    elif references and all(isinstance(r, int) for r in references):
        bad = sorted({int(r) for r in references if int(r) not in id2label})
        if bad:
            raise ConfigError(f"{where}: label ids {bad[:5]} are not among the model's {len(id2label)} classes "
                              f"(0..{len(id2label) - 1})")


def model_labels(directory: Path) -> dict[int, str]:
    try:
        config = json.loads((directory / "config.json").read_text())
        return {int(k): str(v) for k, v in (config.get("id2label") or {}).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def check_declared_paths(config: Any, written: Any, root: Path, where: str) -> None:
    """Each path a config's declared path fields hold exists, can be read and is not empty; nothing else
    is taken for a path. ``written`` is the same config with the paths as the user wrote them."""
    from compressors.typed import declared_paths

    shown = declared_paths(written)
    for key, path in declared_paths(config).items():
        check_data_file(shown.get(key, path), path, root, f"{where}.{key}", must_exist=True)


def check_recipe_files(session: GateSession) -> None:
    """For the targets this run builds: a step whose method's backend is not installed fails now, and so
    does a declared file (calibration or training data) that does not exist, not mid-build; a calibration
    file is read as its step will read it, and one with fewer texts than ``num_samples`` is said before
    minutes go into a build calibrated on less than asked. Targets left out of the run are not checked:
    a GPU runner gating its GPU targets need not install a CPU target's backend."""
    import warnings

    from compressors.base import missing_backend
    from compressors.methods._calibration import read_texts
    from compressors.typed import relative_paths

    root = session.config.root
    for name in session.target_names:
        for step in session.config.targets[name].recipe:
            problem = missing_backend(step.method, step.where)
            if problem:
                raise ConfigError(problem)
            config = step.config
            check_declared_paths(config, relative_paths(config, root), root, step.where)
            calibration, wanted = getattr(config, "calibration", None), getattr(config, "num_samples", None)
            if isinstance(calibration, str) and isinstance(wanted, int):
                texts = read_texts(calibration, text_column=getattr(config, "text_column", "text"),
                                   num_samples=wanted, where=f"{step.where}.calibration")
                if len(texts) < wanted:
                    warnings.warn(f"{step.where}.calibration = {step.table.get('calibration')!r} holds {len(texts)} "
                                  f"texts; num_samples = {wanted} asks for more: the step calibrates on {len(texts)}",
                                  UserWarning, stacklevel=2)


def check_metric_package(name: str, task: Any) -> None:
    """A task whose metric needs a package that is not installed fails now, not after the other tasks' items
    have been built and scored."""
    import importlib.util

    from .tasks import TASK_TYPES

    task_type = TASK_TYPES.get(task.type)
    metric = task_type.metric(task.metric or task_type.default_metric)
    if metric.package and importlib.util.find_spec(metric.package) is None:
        raise ConfigError(f"tasks.{name}.metric = {metric.name!r} needs the '{metric.package}' package, which is not "
                          f"installed: pip install 'pytest-compressgate[metrics]'")


def preflight(session: GateSession) -> None:
    """Every check above, in the order a run would meet them; raises the first ConfigError."""
    config = session.config
    from compressors.typed import relative_paths

    for name, task in config.tasks.items():
        check_metric_package(name, task)
        check_data_file(task.data, config.resolve(task.data), config.root, f"tasks.{name}.data")
        check_declared_paths(task.options, relative_paths(task.options, config.root), config.root, f"tasks.{name}")
    check_recipe_files(session)
    source = session.source_dir  # raises ConfigError for a missing local path or an unknown hub id
    check_source_dir(source)
    labels = model_labels(source)
    for name in config.tasks:
        session.examples(name)  # columns, parse errors and empty data, as ConfigError; cached as JSON
        check_labels(session, name, labels)
