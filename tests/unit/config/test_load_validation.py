"""Types and ranges checked when the config loads: one ConfigError naming the key, the value and what
is valid, for every mistake the fuzz campaign and a new user's first hour turned up."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_compressgate.config import ConfigError, load_config

BASE = """
[tool.compressgate]
source = { model = "models/m", task = "text-classification" }
{top}
[tool.compressgate.targets.cpu]
hardware = "cpu"
recipe = {recipe}
{target}
[tool.compressgate.tasks.intent]
data = "data/test.jsonl"
max_drop = 0.02
{task}
"""


def load(tmp_path: Path, *, top: str = "", recipe: str = '[{ method = "torch-dynamic-int8" }]', target: str = "",
         task: str = ""):
    path = tmp_path / "pyproject.toml"
    text = BASE.replace("{top}", top).replace("{recipe}", recipe).replace("{target}", target).replace("{task}", task)
    path.write_text(text, encoding="utf-8")
    return load_config(path)


@pytest.mark.parametrize(("where", "line", "message"), [
    ("task", "max_drop_increase = nan", "max_drop_increase = nan is invalid: expected a finite number"),
    ("task", "min_score = -inf", "min_score = -inf is invalid: expected a finite number"),
    ("task", "confidence = nan", "confidence = nan is invalid"),
    ("task", "batch_size = -4", "tasks.intent.batch_size = -4 is invalid: expected an integer >= 1"),
    ("task", "batch_size = 0", "tasks.intent.batch_size = 0 is invalid: expected an integer >= 1"),
    ("task", "max_examples = 0", "tasks.intent.max_examples = 0 is invalid: expected an integer >= 1"),
    ("task", "weight = 2", "tasks.intent.weight: unknown key."),  # once parsed and never read; now unknown
    ("target", "min_speedup = nan", "targets.cpu.min_speedup = nan is invalid"),
    ("target", "max_latency_ms = -1", "targets.cpu.max_latency_ms = -1.0 is invalid: expected a number > 0"),
    ("target", 'stages = { "²" = { max_drop = 0.1 } }', "targets.cpu.stages.²: expected a stage number from 0 to 0"),
    ("top", "seed = -1", "tool.compressgate.seed = -1 is invalid: expected an integer from 0"),
])
def test_a_bad_value_is_one_error_naming_the_key(tmp_path: Path, where: str, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **{where: line})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_nan_in_a_method_parameter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"recipe\[0\]\.sparsity = nan is invalid: expected a finite number"):
        load(tmp_path, recipe='[{ method = "prune-magnitude", sparsity = nan }]')


@pytest.mark.parametrize("method", ['["onnx-dynamic-int8"]', "{ a = 1 }", "3"])
def test_a_method_that_is_not_a_name_is_a_config_error(tmp_path: Path, method: str) -> None:
    with pytest.raises(ConfigError, match=r"targets\.cpu\.recipe\[0\]\.method: unknown compression method"):
        load(tmp_path, recipe=f"[{{ method = {method} }}]")


def test_the_format_chain_is_checked_at_load(tmp_path: Path) -> None:
    recipe = '[{ method = "onnx-dynamic-int8" }, { method = "distill", data = "data/train.jsonl" }]'
    with pytest.raises(ConfigError) as info:
        load(tmp_path, recipe=recipe)
    assert str(info.value) == (
        "pyproject.toml: tool.compressgate.targets.cpu.recipe[1].method = 'distill' cannot follow "
        "tool.compressgate.targets.cpu.recipe[0] (onnx-dynamic-int8), which writes the onnx format; 'distill' "
        "takes only transformers. Put it earlier in the recipe.")


def test_stacks_that_fit_load(tmp_path: Path) -> None:
    recipe = '[{ method = "prune-magnitude" }, { method = "torch-dynamic-int8" }]'
    assert len(load(tmp_path, recipe=recipe, target='stages = { "0" = { max_drop = 0.1 } }').targets["cpu"].recipe) == 2


def test_every_method_declares_what_it_writes() -> None:
    from compressors.base import METHODS, _ensure_builtin_methods

    _ensure_builtin_methods()
    undeclared = [name for name in METHODS if METHODS.get(name).produces is None]
    assert not undeclared, f"declare produces= in these methods' @register: {undeclared}"


def test_a_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "compressgate.toml"
    path.write_bytes(b'source = { model = "caf\xe9" }\n')
    with pytest.raises(ConfigError, match=r"compressgate.toml: not UTF-8 text \(byte 0xe9 at offset 23\)"):
        load_config(path)


def test_a_key_holding_a_newline_stays_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, task='[tool.compressgate.tasks.intent.targets.cpu]\n"max\\ndrop" = 0.1')
    assert "\n" not in str(info.value) and "targets.cpu.max\\ndrop: unknown key" in str(info.value)
