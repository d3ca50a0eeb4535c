"""Installed packages extend the registries through entry points: loaded once, when a registry is first
asked for a name; a broken one is one line naming the distribution and the entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compressors.errors import ConfigError
from compressors.registry import Registry

ROOT = Path(__file__).resolve().parents[3]

PLUGIN = '''
from dataclasses import dataclass

from compressors.base import Method, ModelFormat, Result, StepConfig
from pytest_compressgate.tasks import Metric


@dataclass(frozen=True)
class CopyConfig(StepConfig):
    note: str = ""


def copy(model_dir, config, out_dir, context):
    return Result(ModelFormat.TRANSFORMERS)


METHOD = Method("acme-copy", CopyConfig, copy, produces=ModelFormat.TRANSFORMERS)
METRIC = Metric("acme_len", lambda predictions, references: float(len(predictions)))
THING = "a thing"
'''


def installed(root: Path, entry_points: str, module: str = "acme_gate_plugin") -> Path:
    """A package as pip leaves it: the module and its dist-info folder (METADATA, entry_points.txt)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(PLUGIN)
    info = root / "acme_gate_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-gate-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return root


def test_an_entry_point_is_loaded_once_when_a_name_is_first_asked_for(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(installed(tmp_path, """
        [compressgate_test.things]
        acme-thing = acme_gate_plugin_lazy:THING
    """, module="acme_gate_plugin_lazy")))
    things: Registry[str] = Registry("thing", group="compressgate_test.things")
    things.register("builtin", "built in")
    assert "acme_gate_plugin_lazy" not in sys.modules  # nothing loaded until a name is asked for
    assert "acme-thing" in things and things.get("acme-thing") == "a thing"
    assert things.names() == ["acme-thing", "builtin"]
    sys.modules.pop("acme_gate_plugin_lazy")


def test_a_broken_entry_point_is_one_line_naming_it_and_its_distribution(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(installed(tmp_path, """
        [compressgate_test.broken]
        acme-broken = acme_no_such_module:THING
    """)))
    things: Registry[str] = Registry("thing", group="compressgate_test.broken")
    with pytest.raises(ConfigError) as info:
        things.get("anything")
    assert str(info.value) == ("entry point 'acme-broken' = 'acme_no_such_module:THING' (group "
                               "compressgate_test.broken) of acme-gate-plugin 1.0 cannot be loaded: "
                               "ModuleNotFoundError: No module named 'acme_no_such_module'")


def test_an_installed_method_and_metric_serve_a_config(tmp_path) -> None:
    """The real registries, in a fresh interpreter (this one loaded its entry points long ago)."""
    site = installed(tmp_path / "site", """
        [pytest_compressgate.methods]
        acme-copy = acme_gate_plugin:METHOD
        [pytest_compressgate.metrics]
        acme_len = acme_gate_plugin:METRIC
    """)
    (tmp_path / "compressgate.toml").write_text(
        'source = { model = "m" }\n[targets.t]\nhardware = "cpu"\nrecipe = [{ method = "acme-copy", note = "x" }]\n'
        '[tasks.q]\ndata = "d.jsonl"\n')
    script = ("import sys; from pytest_compressgate.config import load_config; "
              "from pytest_compressgate.tasks import METRICS; "
              "step = load_config(sys.argv[1]).targets['t'].recipe[0]; "
              "print(step.name, step.config.note, 'acme_len' in METRICS)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "compressgate.toml")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["acme-copy", "x", "True"]
