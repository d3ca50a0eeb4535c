"""Find, read and validate the gate's configuration into typed objects.

Every error names the file, the key path, the bad value and what would be valid.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compressors.errors import ConfigError, did_you_mean
from compressors.pipeline import parse_recipe
from compressors.typed import coerce, from_mapping, resolve_paths

from ..locate import CONFIG_FILE, find_config  # noqa: F401  (re-exported)
from .schema import THRESHOLD_KEYS, GateConfig, SourceConfig, TargetConfig, TaskConfig, Thresholds

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_KEYS = ("source", "targets", "tasks", "cache_dir", "registry", "seed", "holm")
TASK_KEYS = ("data", "type", "metric", "split", "max_examples", "batch_size", "targets")
TARGET_KEYS = ("hardware", "recipe", "min_size_ratio", "min_speedup", "max_latency_ms", "stages")


def read_table(path: Path) -> tuple[dict[str, Any], str]:
    """The raw gate table and the key path prefix it lives under."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(one_line(f"{path.name}: not valid TOML: {exc}")) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                          "TOML files must be saved as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("compressgate")
        if table is None:
            raise ConfigError(f"{path}: no [tool.compressgate] table")
        return table, "tool.compressgate"
    return data, ""


def load_config(path: str | Path) -> GateConfig:
    path = Path(path)
    table, prefix = read_table(path)
    try:
        return build_config(table, path=path, prefix=prefix)
    except ConfigError as exc:
        raise ConfigError(one_line(f"{path.name}: {exc}")) from None


def one_line(message: str) -> str:
    """``message`` with newlines and other unprintable characters escaped: a key or value the user wrote
    (a table key may hold a newline) must not break the one-line error."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def _key(prefix: str, *parts: str) -> str:
    return ".".join(p for p in (prefix, *parts) if p)


def check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{_key(where, key)}: unknown key.{did_you_mean(key, allowed)} "
                              f"Valid keys: {', '.join(sorted(allowed))}.")


def require_table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table, got {value!r}")
    return value


def build_config(table: Mapping[str, Any], *, path: Path, prefix: str = "") -> GateConfig:
    check_keys(table, TOP_KEYS, prefix)
    root = path.parent.resolve()
    if "source" not in table:
        raise ConfigError(f"{_key(prefix, 'source')} is required, e.g. source = {{ model = \"models/my-model\" }}")
    source = from_mapping(SourceConfig, table["source"], _key(prefix, "source"))
    targets_table = require_table(table.get("targets", {}), _key(prefix, "targets"))
    tasks_table = require_table(table.get("tasks", {}), _key(prefix, "tasks"))
    if not targets_table:
        raise ConfigError(f"{_key(prefix, 'targets')}: declare at least one target, "
                          "e.g. [tool.compressgate.targets.cpu-int8]")
    if not tasks_table:
        raise ConfigError(f"{_key(prefix, 'tasks')}: declare at least one task, e.g. [tool.compressgate.tasks.intent]")
    targets = {
        name: build_target(name, require_table(t, _key(prefix, "targets", name)), _key(prefix, "targets", name), root)
        for name, t in targets_table.items()
    }
    tasks = {
        name: build_task(name, require_table(t, _key(prefix, "tasks", name)), _key(prefix, "tasks", name), targets,
                         root)
        for name, t in tasks_table.items()
    }
    check_source_task(source.task, tasks, prefix)
    cache_dir = Path(coerce(table.get("cache_dir", ".compressgate"), str, _key(prefix, "cache_dir")))
    default_registry = "sqlite:///" + str(cache_dir / "registry.db")
    registry = coerce(table.get("registry", default_registry), str, _key(prefix, "registry"))
    return GateConfig(
        path=path,
        root=root,
        source=source,
        targets=targets,
        tasks=tasks,
        cache_dir=cache_dir if cache_dir.is_absolute() else root / cache_dir,
        registry=registry,
        seed=nonnegative_seed(coerce(table.get("seed", 0), int, _key(prefix, "seed")), _key(prefix, "seed")),
        holm=coerce(table.get("holm", False), bool, _key(prefix, "holm")),
    )


def check_source_task(source_task: str, tasks: Mapping[str, TaskConfig], prefix: str) -> None:
    """The source's task decides its model class (its head); every task must be able to score that class."""
    from compressors.model_classes import TASK_CLASSES

    from ..tasks import TASK_TYPES

    if source_task not in TASK_CLASSES:
        hint = did_you_mean(source_task, TASK_CLASSES)
        raise ConfigError(f"{_key(prefix, 'source', 'task')}: unknown model task {source_task!r}.{hint} "
                          f"Valid: {', '.join(sorted(TASK_CLASSES))}.")
    for name, task in tasks.items():
        accepted = TASK_TYPES.get(task.type).source_tasks()
        if source_task not in accepted:
            fitting = sorted(n for n in TASK_TYPES.names() if source_task in TASK_TYPES.get(n).source_tasks())
            raise ConfigError(
                f"{_key(prefix, 'tasks', name, 'type')}: a {task.type!r} task cannot score the source, which "
                f"{_key(prefix, 'source', 'task')} = {source_task!r} loads as {TASK_CLASSES[source_task][0]}. "
                f"Set source.task to one of {', '.join(accepted)}, or use a task type for this model: "
                f"{', '.join(fitting)}.")


def build_target(name: str, table: Mapping[str, Any], where: str, root: Path) -> TargetConfig:
    """A target, its recipe parsed once into typed steps (paths resolved against ``root``); whether each
    step's backend is installed is checked for the targets a run builds (``preflight.check_recipe_files``)."""
    from ..targets import PRESETS

    check_keys(table, TARGET_KEYS, where)
    if "hardware" not in table:
        raise ConfigError(f"{where}.hardware is required; known presets: {', '.join(PRESETS.names())}")
    hardware = coerce(table["hardware"], str, f"{where}.hardware")
    if hardware not in PRESETS:
        raise ConfigError(f"{where}.hardware: {PRESETS.unknown_message(hardware)}")
    recipe = parse_recipe(table.get("recipe"), f"{where}.recipe", root=root)
    # later messages (preflight, builds) name a step as the config's own keys do, without the table prefix
    recipe = tuple(dataclasses.replace(s, where=f"targets.{name}.recipe[{i}]") for i, s in enumerate(recipe))
    gates = {k: positive(coerce(table[k], float | None, f"{where}.{k}"), f"{where}.{k}")
             for k in TARGET_KEYS[2:5] if k in table}
    stages = {}
    for index, override in require_table(table.get("stages", {}), f"{where}.stages").items():
        # ASCII digits only: str.isdigit() also accepts '²', which int() then refuses
        if not re.fullmatch(r"[0-9]+", str(index)) or int(index) >= len(recipe):
            raise ConfigError(f"{where}.stages.{index}: expected a stage number from 0 to {len(recipe) - 1}")
        stages[int(index)] = threshold_override(override, f"{where}.stages.{index}")
    return TargetConfig(name=name, hardware=hardware, recipe=recipe, stage_thresholds=stages, **gates)


def nonnegative_seed(value: int, where: str) -> int:
    if not 0 <= value < 2**63:
        raise ConfigError(f"{where} = {value} is invalid: expected an integer from 0 to 2**63 - 1")
    return value


def positive(value: Any, where: str) -> Any:
    """``value`` when it is None or > 0 (sizes, counts, speed gates); a ConfigError otherwise."""
    if value is not None and not value > 0:
        kind = "an integer >= 1" if isinstance(value, int) else "a number > 0"
        raise ConfigError(f"{where} = {value!r} is invalid: expected {kind}")
    return value


def threshold_override(table: Any, where: str) -> dict[str, Any]:
    """Validate a partial threshold table; keep only the keys it sets."""
    table = require_table(table, where)
    check_keys(table, THRESHOLD_KEYS, where)
    validated = from_mapping(Thresholds, table, where)
    return {key: getattr(validated, key) for key in table}


def build_task(name: str, table: Mapping[str, Any], where: str, targets: Mapping[str, TargetConfig],
               root: Path) -> TaskConfig:
    from ..tasks import TASK_TYPES

    task_type = coerce(table.get("type", "text-classification"), str, f"{where}.type")
    if task_type not in TASK_TYPES:
        raise ConfigError(f"{where}.type: {TASK_TYPES.unknown_message(task_type)}")
    spec = TASK_TYPES.get(task_type)
    option_keys = tuple(spec.options_fields())
    check_keys(table, TASK_KEYS + THRESHOLD_KEYS + option_keys, where)
    if "data" not in table:
        raise ConfigError(f"{where}.data is required: a local file such as \"data/test.jsonl\"")
    thresholds = from_mapping(Thresholds, {k: table[k] for k in THRESHOLD_KEYS if k in table}, where)
    metric = coerce(table.get("metric", spec.default_metric), str, f"{where}.metric")
    spec.check_metric(metric, f"{where}.metric")
    overrides = {}
    for target, override in require_table(table.get("targets", {}), f"{where}.targets").items():
        if target not in targets:
            raise ConfigError(f"{where}.targets.{target}: no such target.{did_you_mean(target, targets)} "
                              f"Declared: {', '.join(targets)}.")
        overrides[target] = threshold_override(override, f"{where}.targets.{target}")
    options = from_mapping(spec.options_cls, {k: table[k] for k in option_keys if k in table}, where)
    spec.check_task(metric, options, where)
    options = resolve_paths(options, root)  # the declared path fields, against the config file's folder
    return TaskConfig(
        name=name,
        data=coerce(table["data"], str, f"{where}.data"),
        type=task_type,
        metric=metric,
        split=coerce(table.get("split", "train"), str, f"{where}.split"),
        max_examples=positive(coerce(table.get("max_examples"), int | None, f"{where}.max_examples"),
                              f"{where}.max_examples"),
        batch_size=positive(coerce(table.get("batch_size", 32), int, f"{where}.batch_size"), f"{where}.batch_size"),
        thresholds=thresholds,
        target_overrides=overrides,
        options=options,
    )
