"""Declared path fields, not guesses: exactly the fields a config declares as paths are hashed into keys
(and checked by preflight); a string that happens to name a file is a string."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_compressgate.cache.gate_keys import GateKeys
from pytest_compressgate.config import ConfigError, load_config

CONFIG = """
source = {{ model = "m" }}
[targets.t]
hardware = "cpu"
recipe = [{step}]
[tasks.q]
data = "d.jsonl"
{task}
"""


def project(root: Path, step: str, task: str = "") -> Path:
    root.mkdir(exist_ok=True)
    (root / "calib.jsonl").write_text('{"text": "one"}\n{"text": "two"}\n')
    (root / "text").write_text("a file that happens to be called text\n")
    (root / "d.jsonl").write_text('{"text": "a", "label": 0}\n')
    path = root / "compressgate.toml"
    path.write_text(CONFIG.format(step=step, task=task))
    return path


def artifact_key(path: Path) -> str:
    config = load_config(path)
    target = config.targets["t"]
    return GateKeys(config, versions={}).stages(target, "source-key")[0]


STATIC = '{ method = "onnx-static-int8", calibration = "calib.jsonl", text_column = "text" }'


def test_a_string_naming_an_existing_file_is_not_hashed_unless_declared_a_path(tmp_path: Path) -> None:
    path = project(tmp_path, STATIC)
    before = artifact_key(path)
    (tmp_path / "text").write_text("edited: text_column is a column name, not this file\n")
    assert artifact_key(path) == before


def test_editing_a_declared_calibration_file_changes_the_artifact_key(tmp_path: Path) -> None:
    path = project(tmp_path, STATIC)
    before = artifact_key(path)
    (tmp_path / "calib.jsonl").write_text('{"text": "one"}\n{"text": "three"}\n')
    assert artifact_key(path) != before


def test_keys_hold_paths_as_written_so_a_moved_checkout_keeps_them(tmp_path: Path) -> None:
    path = project(tmp_path / "here", STATIC)
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    assert artifact_key(path) == artifact_key(tmp_path / "there" / "compressgate.toml")


def test_task_option_paths_are_declared_too(tmp_path: Path) -> None:
    from tests.unit.cache.test_key_coverage import HERE

    task = (f'type = "custom"\nscorer = "{HERE}:score_len"\n'
            'files = { train = "calib.jsonl" }\nparams = { p = "text" }')
    path = project(tmp_path, '{ method = "prune-magnitude" }', task)
    config = load_config(path)
    assert config.tasks["q"].options.files == {"train": str(tmp_path.resolve() / "calib.jsonl")}
    keys = GateKeys(config, versions={})
    before = keys.examples(config.tasks["q"])
    (tmp_path / "text").write_text("a param, never a file\n")
    assert keys.examples(config.tasks["q"]) == before
    (tmp_path / "calib.jsonl").write_text('{"text": "changed"}\n')
    assert keys.examples(config.tasks["q"]) != before


@pytest.mark.parametrize(("content", "message"), [
    (None, r"targets\.t\.recipe\[0\]\.calibration = 'calib\.jsonl': no such file"),
    ("", r"targets\.t\.recipe\[0\]\.calibration = 'calib\.jsonl': .* is empty"),
])
def test_preflight_checks_exactly_the_declared_paths(tmp_path: Path, content, message) -> None:
    from pytest_compressgate.preflight import check_recipe_files
    from pytest_compressgate.gate import GateSession

    path = project(tmp_path, STATIC)
    calib = tmp_path / "calib.jsonl"
    calib.unlink() if content is None else calib.write_text(content)
    (tmp_path / "text").unlink()  # text_column names no file, and that is fine
    with pytest.raises(ConfigError, match=message):
        check_recipe_files(GateSession(load_config(path)))


def test_preflight_checks_a_custom_tasks_declared_files(tmp_path: Path) -> None:
    from pytest_compressgate.preflight import preflight
    from pytest_compressgate.gate import GateSession
    from tests.unit.cache.test_key_coverage import HERE

    task = f'type = "custom"\nscorer = "{HERE}:score_len"\nfiles = {{ train = "missing.jsonl" }}'
    path = project(tmp_path, '{ method = "prune-magnitude" }', task)
    with pytest.raises(ConfigError, match=r"tasks\.q\.files\.train = 'missing\.jsonl': no such file"):
        preflight(GateSession(load_config(path)))
