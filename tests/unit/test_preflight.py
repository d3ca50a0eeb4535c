"""The checks made before anything is built: local paths versus hub ids, safetensors headers, labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_compressgate.config import ConfigError
from pytest_compressgate.config.schema import looks_local
from pytest_compressgate.preflight import check_safetensors, check_source_dir, remote_code_notice


@pytest.mark.parametrize(("name", "local"), [
    ("bert-base-uncased", False), ("org/name", False), ("./model", True), ("../models/m", True), ("/abs/m", True),
    ("~/m", True), ("a/b/c", True), ("models\\m", True), ("models/m", True), ("data/test.jsonl", True),
])
def test_local_looking_paths_are_never_hub_ids(tmp_path: Path, name: str, local: bool) -> None:
    (tmp_path / "models").mkdir()  # "models/m" has an existing first folder beside the config: local
    assert looks_local(name, tmp_path) is local


def saved(tmp_path: Path) -> Path:
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({"w": np.arange(64, dtype=np.float32).reshape(8, 8), "b": np.zeros(8, dtype=np.float32)}, str(path))
    return path


def test_a_whole_safetensors_file_passes_and_a_truncated_one_is_named(tmp_path: Path) -> None:
    path = saved(tmp_path)
    assert check_safetensors(path) is None
    path.write_bytes(path.read_bytes()[:-40])
    assert "lies outside the file's" in check_safetensors(path)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    assert "header is not JSON" in check_safetensors(path)
    path.write_bytes(b"\xff" * 8 + b"{}")
    assert "header claims" in check_safetensors(path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"source.model: .*model.safetensors is not a valid safetensors file"):
        check_source_dir(tmp_path)


def test_a_folder_without_config_json_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no config.json"):
        check_source_dir(tmp_path)


def test_the_remote_code_notice_names_files_and_auto_map(tmp_path: Path) -> None:
    (tmp_path / "modeling_x.py").write_text("")
    (tmp_path / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "modeling_x.X"}}))
    notice = remote_code_notice(tmp_path, "org/x")
    assert "run Python code shipped with 'org/x' (modeling_x.py; auto_map: AutoModel -> modeling_x.X)" in notice


def test_a_calibration_file_smaller_than_num_samples_is_said_before_the_build(tmp_path: Path) -> None:
    from pytest_compressgate.config import load_config
    from pytest_compressgate.preflight import check_recipe_files
    from pytest_compressgate.gate import GateSession

    (tmp_path / "calib.jsonl").write_text('{"text": "one"}\n{"text": "two"}\n')
    (tmp_path / "compressgate.toml").write_text(
        'source = { model = "m" }\n[targets.t]\nhardware = "cpu"\n'
        'recipe = [{ method = "gptq", bits = 4, calibration = "calib.jsonl", num_samples = 64 }]\n'
        '[tasks.q]\ndata = "d.jsonl"\n')
    session = GateSession(load_config(tmp_path / "compressgate.toml"))
    with pytest.warns(UserWarning, match=r"targets.t.recipe\[0\].calibration = 'calib.jsonl' holds 2 texts; "
                                         r"num_samples = 64 asks for more"):
        check_recipe_files(session)


def test_a_metric_whose_package_is_missing_fails_before_any_item_runs() -> None:
    from types import SimpleNamespace

    from pytest_compressgate.preflight import check_metric_package
    from pytest_compressgate.tasks.metrics import METRICS, Metric, register_metric

    check_metric_package("summary", SimpleNamespace(type="text-generation", metric="rouge_l"))  # installed here
    check_metric_package("summary", SimpleNamespace(type="text-generation", metric=None))  # its default, rouge_l
    register_metric(Metric("needs_a_missing_package", lambda p, r: 0.0, package="compressgate_no_such_package"))
    try:
        with pytest.raises(ConfigError, match=r"^tasks\.summary\.metric = 'needs_a_missing_package' needs the "
                                              r"'compressgate_no_such_package' package, which is not installed: "
                                              r"pip install 'pytest-compressgate\[metrics\]'$"):
            check_metric_package("summary", SimpleNamespace(type="text-generation", metric="needs_a_missing_package"))
    finally:
        METRICS.unregister("needs_a_missing_package")
