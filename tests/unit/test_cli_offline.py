"""`compressgate build` finds the source as the plugin does, offline: --source, or the conftest.py hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_compressgate.cli import main

CONFIG = '''
[tool.compressgate]
source = { model = "acme/unpublished-intent-model", task = "text-classification" }  # on no hub
cache_dir = "cache"

[tool.compressgate.targets.cpu-int8]
hardware = "cpu"
recipe = [{ method = "torch-dynamic-int8" }]

[tool.compressgate.tasks.intent]
data = "test.jsonl"
'''

HOOK = '''
from locate_model import model_dir  # a neighbour module, importable as under pytest


def pytest_compressgate_build_source(gate_config):
    assert gate_config.source.model == "acme/unpublished-intent-model"
    return model_dir()
'''


@pytest.fixture
def project(tmp_path: Path, tiny_classifier_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    (tmp_path / "test.jsonl").write_text('{"text": "refund my invoice", "label": "billing"}\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_build_calls_the_projects_source_hook(capsys, project, tiny_classifier_dir, monkeypatch):
    (project / "locate_model.py").write_text(f"def model_dir():\n    return {str(tiny_classifier_dir)!r}\n")
    (project / "conftest.py").write_text(HOOK)
    code, out, err = run(capsys, "build", "--no-registry")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"source: {tiny_classifier_dir} (from conftest.py's pytest_compressgate_build_source)"
    assert lines[1].startswith("cpu-int8: 1 stage(s), 1 built, 0 from cache")
    code, out, err = run(capsys, "build", "--no-registry")
    assert code == 0 and "0 built, 1 from cache" in out, err


def test_build_takes_the_source_folder_from_the_command_line(capsys, project, tiny_classifier_dir):
    (project / "conftest.py").write_text("raise RuntimeError('not imported when --source is given')\n")
    code, out, err = run(capsys, "build", "--no-registry", "--source", str(tiny_classifier_dir))
    assert code == 0, err
    assert out.splitlines()[0] == f"source: {tiny_classifier_dir} (--source)" and "1 built" in out


def test_without_a_source_the_error_is_one_line(capsys, project):
    for argv, expected in ((["--source", "no/such/folder"], "argument --source: expected a model folder"),
                           ([], "or pass --source DIR, or return the folder from pytest_compressgate_build_source")):
        code, out, err = run(capsys, "build", "--no-registry", *argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("compressgate: error: "), err
        assert expected in lines[0]


def test_a_broken_conftest_is_named(capsys, project):
    (project / "conftest.py").write_text("import no_such_module_here\n")
    code, _, err = run(capsys, "build", "--no-registry")
    assert code == 2 and "conftest.py: importing it failed: ModuleNotFoundError" in err, err
