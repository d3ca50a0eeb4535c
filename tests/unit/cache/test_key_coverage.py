"""Every config field is in some cache key, or declared irrelevant with a reason (gate_keys.NOT_IN_KEYS).

Each field of the config dataclasses and of every task type's options is changed in turn, and the keys
the session would use (source, each stage's artifact, each task's examples, each model's predictions)
are recomputed without building anything. A field that changes no key and is not declared irrelevant
fails, so a new setting cannot silently serve results computed without it; a declared-irrelevant field
that does change a key fails too, so the declarations stay true.
"""

from __future__ import annotations

import dataclasses
import enum
import shutil
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from compressors.pipeline import RecipeStep, parse_recipe
from compressors.typed import from_mapping
from pytest_compressgate.cache.gate_keys import NOT_IN_KEYS, every_key
from pytest_compressgate.config.schema import GateConfig, SourceConfig, TargetConfig, TaskConfig, Thresholds
from pytest_compressgate.gate import GateSession
from pytest_compressgate.tasks import TASK_TYPES

HERE = "tests.unit.cache.test_key_coverage"
NESTED = {"GateConfig.source", "GateConfig.targets", "GateConfig.tasks", "TaskConfig.options"}  # fields checked


def score_len(model, examples):  # a custom task's scorer (never called: keys only)
    return [float(len(x["text"])) for x in examples.inputs]


def predict_len(model, examples):
    return [len(x["text"]) for x in examples.inputs]


def setup_state(source, task):
    return None


SOURCE_TASK = {"text-classification": "text-classification", "token-classification": "token-classification",
               "question-answering": "question-answering", "summarization": "text2text-generation",
               "text-generation": "text-generation", "perplexity": "text-generation",
               "embedding-similarity": "feature-extraction", "retrieval": "feature-extraction",
               "custom": "text-classification"}
BASE_OPTIONS = {"custom": {"scorer": f"{HERE}:score_len"}}
# Changes that must go together (or need a resolvable value): field -> the replacement's keyword arguments.
SPECIAL = {
    "CustomOptions.scorer": {"scorer": f"{HERE}:predict_len"},
    "CustomOptions.predictor": {"scorer": None, "predictor": f"{HERE}:predict_len", "reference_column": "label"},
    "CustomOptions.setup": {"setup": f"{HERE}:setup_state"},
}


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')
    (model / "model.safetensors").write_bytes(b"weights")
    shutil.copytree(model, tmp_path / "model-copy")  # same bytes, another path
    (tmp_path / "data.jsonl").write_text('{"text": "a", "label": 0}\n')
    (tmp_path / "other.jsonl").write_text('{"text": "b", "label": 1}\n')
    return {"root": tmp_path, "model": model, "copy": tmp_path / "model-copy", "data": tmp_path / "data.jsonl",
            "other": tmp_path / "other.jsonl"}


def recipe(*steps: dict[str, Any]) -> tuple[RecipeStep, ...]:
    return parse_recipe(list(steps), "targets.t.recipe")


def base_config(p: dict[str, Path], task_type: str) -> GateConfig:
    options = from_mapping(TASK_TYPES.get(task_type).options_cls, BASE_OPTIONS.get(task_type, {}), "options")
    target = TargetConfig(name="t", hardware="cpu", recipe=recipe({"method": "prune-magnitude", "sparsity": 0.3},
                                                                  {"method": "torch-dynamic-int8"}))
    task = TaskConfig(name="q", data=str(p["data"]), type=task_type, options=options,
                      metric=TASK_TYPES.get(task_type).default_metric)
    return GateConfig(path=p["root"] / "pyproject.toml", root=p["root"],
                      source=SourceConfig(model=str(p["model"]), task=SOURCE_TASK[task_type]),
                      targets={"t": target}, tasks={"q": task}, cache_dir=p["root"] / ".cg",
                      registry="sqlite:///registry.db")


def keys_of(config: GateConfig) -> dict[str, str]:
    return every_key(GateSession(config))


def changed(owner: str, f: dataclasses.Field, value: Any, hint: Any, p: dict[str, Path]) -> Any:
    """Another valid value of the field's type."""
    name = f"{owner}.{f.name}"
    fixed = {"GateConfig.path": p["root"] / "compressgate.toml", "GateConfig.root": p["root"] / "elsewhere",
             "GateConfig.cache_dir": p["root"] / ".other-cache", "GateConfig.registry": "sqlite:///other.db",
             "SourceConfig.model": str(p["copy"]), "SourceConfig.task": "feature-extraction",
             "TargetConfig.hardware": "x86-avx2", "TaskConfig.data": str(p["other"]),
             "TaskConfig.type": "embedding-similarity",
             "TargetConfig.recipe": recipe({"method": "prune-magnitude", "sparsity": 0.4},
                                           {"method": "torch-dynamic-int8"}),
             "TargetConfig.stage_thresholds": {0: {"max_drop": 0.1}},
             "TaskConfig.target_overrides": {"t": {"max_drop": 0.1}},
             "TaskConfig.thresholds": Thresholds(max_drop=0.5), "Thresholds.confidence": 0.9}
    if name in fixed:
        return fixed[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args and typing.get_origin(hint) in (typing.Union, types.UnionType) else hint
    origin = typing.get_origin(base)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return next(m for m in base if m != value)
    if base is bool:
        return not value
    if base is int:
        return (value or 4) + 1
    if base is float:
        return (value or 0.25) * 0.5
    if base is str:
        return (value or "column") + "-changed"
    if origin is tuple:
        return tuple(value or ()) + ("extra",)
    if origin is dict or base is dict:
        return {**(value or {}), "extra": str(p["other"])}
    raise AssertionError(f"{name}: the test cannot change a field of type {hint!r}; teach changed() how")


def field_cases(task_types: list[str]) -> list[tuple[str, str, str]]:
    """(task type, owner class, field name) for every field the test changes."""
    cases = []
    for cls in (GateConfig, SourceConfig, TargetConfig, TaskConfig, Thresholds):
        cases += [("text-classification", cls.__name__, f.name) for f in dataclasses.fields(cls)]
    for task_type in task_types:
        options_cls = TASK_TYPES.get(task_type).options_cls
        cases += [(task_type, options_cls.__name__, f.name) for f in dataclasses.fields(options_cls)]
    return sorted(set(cases))


def with_change(config: GateConfig, owner: str, field_name: str, p: dict[str, Path]) -> GateConfig:
    task, target = config.tasks["q"], config.targets["t"]
    objects = {"GateConfig": config, "SourceConfig": config.source, "TargetConfig": target, "TaskConfig": task,
               "Thresholds": task.thresholds}
    obj = objects.get(owner, task.options)
    f = next(f for f in dataclasses.fields(obj) if f.name == field_name)
    hints = typing.get_type_hints(type(obj))
    special = SPECIAL.get(f"{owner}.{field_name}")
    new = dataclasses.replace(obj, **(special or {field_name: changed(owner, f, getattr(obj, field_name),
                                                                      hints[field_name], p)}))
    if owner == "GateConfig":
        return new
    if owner == "SourceConfig":
        return dataclasses.replace(config, source=new)
    if owner == "TargetConfig":
        return dataclasses.replace(config, targets={"t": new})
    if owner == "TaskConfig":
        return dataclasses.replace(config, tasks={"q": new})
    if owner == "Thresholds":
        return dataclasses.replace(config, tasks={"q": dataclasses.replace(task, thresholds=new)})
    return dataclasses.replace(config, tasks={"q": dataclasses.replace(task, options=new)})


@pytest.mark.parametrize(("task_type", "owner", "field_name"), field_cases(TASK_TYPES.names()),
                         ids=lambda v: str(v))
def test_every_field_is_keyed_or_declared_irrelevant(project, task_type, owner, field_name) -> None:
    name = f"{owner}.{field_name}"
    if name in NESTED:
        return  # a container: its own fields are cases of this test
    config = base_config(project, task_type)
    before, after = keys_of(config), keys_of(with_change(config, owner, field_name, project))
    if name in NOT_IN_KEYS:
        assert before == after, f"{name} is declared irrelevant ({NOT_IN_KEYS[name]}) but changes keys"
    else:
        moved = sorted(k for k in before if before[k] != after.get(k))
        assert moved, (f"{name} changes no cache key: add it to the key of what it changes "
                       "(pytest_compressgate/cache/gate_keys.py) or to NOT_IN_KEYS with the reason")


def test_declarations_name_real_fields() -> None:
    real = {f"{cls.__name__}.{f.name}" for cls in (GateConfig, SourceConfig, TargetConfig, TaskConfig, Thresholds)
            for f in dataclasses.fields(cls)}
    assert set(NOT_IN_KEYS) <= real, sorted(set(NOT_IN_KEYS) - real)


def test_batch_size_rekeys_predictions_only(project) -> None:
    config = base_config(project, "text-classification")
    task = dataclasses.replace(config.tasks["q"], batch_size=16)
    before, after = keys_of(config), keys_of(dataclasses.replace(config, tasks={"q": task}))
    moved = {k for k in before if before[k] != after[k]}
    assert moved == {k for k in before if k.startswith("predictions:")}


def test_a_method_version_rekeys_its_stage_and_what_follows(project) -> None:
    config = base_config(project, "text-classification")  # recipe: prune-magnitude, then torch-dynamic-int8
    before = keys_of(config)

    def bumped(index: int) -> GateConfig:  # the step's method as a newer release would register it
        steps = list(config.targets["t"].recipe)
        method = steps[index].method
        steps[index] = dataclasses.replace(steps[index], method=dataclasses.replace(method, version=method.version + 1))
        return dataclasses.replace(config, targets={"t": dataclasses.replace(config.targets["t"], recipe=tuple(steps))})

    moved = {k for k, v in keys_of(bumped(1)).items() if before[k] != v}
    assert moved == {"artifact:t:1", "predictions:q:t:1"}
    moved = {k for k, v in keys_of(bumped(0)).items() if before[k] != v}
    assert moved == {"artifact:t:0", "artifact:t:1", "predictions:q:t:0", "predictions:q:t:1"}


def test_data_bytes_rekey_examples_and_predictions_not_artifacts(project) -> None:
    config = base_config(project, "text-classification")
    before = keys_of(config)
    project["data"].write_text('{"text": "a changed example", "label": 0}\n')
    moved = {k for k, v in keys_of(config).items() if before[k] != v}
    assert moved == {"examples:q"} | {k for k in before if k.startswith("predictions:")}
