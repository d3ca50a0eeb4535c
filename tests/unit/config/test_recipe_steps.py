"""A recipe is parsed once, when the config loads: typed steps with their paths resolved, the table as
written, and each method's backends checked there (one line naming the step and the extra to install)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from compressors.base import METHODS, ModelFormat, Result, StepConfig, compress, register
from compressors.pipeline import RecipeStep
from compressors.typed import path_field
from pytest_compressgate.config import ConfigError, load_config

CONFIG = """
source = {{ model = "m" }}
[targets.gpu]
hardware = "cpu"
recipe = {recipe}
[tasks.q]
data = "d.jsonl"
"""


def write(tmp_path: Path, recipe: str) -> Path:
    path = tmp_path / "compressgate.toml"
    path.write_text(CONFIG.format(recipe=recipe))
    return path


def test_steps_are_typed_with_paths_resolved_and_the_table_kept(tmp_path: Path) -> None:
    recipe = ('[{ method = "prune-magnitude", sparsity = 0.5 }, '
              '{ method = "onnx-static-int8", calibration = "data/calib.jsonl", text_column = "text" }]')
    config = load_config(write(tmp_path, recipe))
    prune, static = config.targets["gpu"].recipe
    assert isinstance(prune, RecipeStep) and prune.name == "prune-magnitude" and prune.config.sparsity == 0.5
    assert static.config.calibration == str(tmp_path.resolve() / "data/calib.jsonl")  # declared: resolved
    assert static.config.text_column == "text"  # not a path: as written
    assert static.table == {"method": "onnx-static-int8", "calibration": "data/calib.jsonl", "text_column": "text"}
    assert (prune.where, static.where) == ("targets.gpu.recipe[0]", "targets.gpu.recipe[1]")


def test_compress_dispatches_on_the_config_type(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class EchoConfig(StepConfig):
        note: str = ""

    @dataclass(frozen=True)
    class OtherConfig(StepConfig):
        pass

    seen = []

    def echo(model_dir, config, out_dir, context) -> Result:
        seen.append(config)
        return Result(ModelFormat.TRANSFORMERS)

    register("test-echo", EchoConfig)(echo)
    register("test-other", OtherConfig)(echo)
    try:
        with pytest.raises(ValueError, match="EchoConfig already configures method 'test-echo'"):
            register("test-echo-twin", EchoConfig)(echo)
        artifact = compress(tmp_path, EchoConfig(note="typed"), tmp_path / "out")
        assert artifact.method == "test-echo" and seen == [EchoConfig(note="typed")]
        assert compress(tmp_path, {"method": "test-other"}, tmp_path / "out2").method == "test-other"
    finally:
        METHODS.unregister("test-echo")
        METHODS.unregister("test-other")


@dataclass(frozen=True)
class NeedsBackendConfig(StepConfig):
    calibration: str | None = path_field()


@pytest.fixture
def method_with_missing_backend():
    def handler(model_dir, config, out_dir, context) -> Result:
        raise AssertionError("never built: the config fails when it loads")

    register("test-needs-backend", NeedsBackendConfig, requires=("compressgate_no_such_backend",))(handler)
    yield "test-needs-backend"
    METHODS.unregister("test-needs-backend")


def test_a_method_whose_backend_is_missing_fails_before_its_target_builds(tmp_path, method_with_missing_backend):
    from pytest_compressgate.gate import GateOptions, GateSession
    from pytest_compressgate.preflight import check_recipe_files

    path = write(tmp_path, f'[{{ method = "{method_with_missing_backend}" }}]')
    path.write_text(path.read_text() + '[targets.cpu]\nhardware = "cpu"\nrecipe = [{ method = "prune-magnitude" }]\n')
    config = load_config(path)  # the config itself is valid: the backend is a fact of this machine
    with pytest.raises(ConfigError) as info:
        check_recipe_files(GateSession(config, GateOptions(enabled=True)))
    assert str(info.value) == ("targets.gpu.recipe[0].method = 'test-needs-backend' needs "
                               "compressgate_no_such_backend, which is not installed: install the package "
                               "providing compressgate_no_such_backend")
    # a run that leaves that target out (a CPU runner's --compress-gate-targets) does not need its backend
    check_recipe_files(GateSession(config, GateOptions(enabled=True, targets=("cpu",))))


def test_a_built_in_backend_names_its_extra(monkeypatch) -> None:
    from compressors.base import missing_backend

    gptq = METHODS.get("gptq")
    assert gptq.requires == ("gptqmodel",)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gptqmodel" else real(name, *a))
    assert missing_backend(gptq, "targets.gpu.recipe[0]") == (
        "targets.gpu.recipe[0].method = 'gptq' needs gptqmodel, which is not installed: "
        "pip install 'pytest-compressgate[gptq]'")


def test_weight_is_no_longer_a_task_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[{ method = "prune-magnitude" }]')
    path.write_text(path.read_text() + "weight = 2.0\n")
    with pytest.raises(ConfigError, match=r"tasks\.q\.weight: unknown key\."):
        load_config(path)
