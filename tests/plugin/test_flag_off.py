"""Without --compress-gate: items are collected and skipped with a reason, and nothing heavy is imported."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_compressgate


def test_items_are_collected_and_skipped_with_reason(pytester: pytest.Pytester, gate_project) -> None:
    gate_project()
    result = pytester.runpytest("-rs", "-v")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*pyproject.toml::intent[[]cpu-int8[]] SKIPPED*",
                                 "SKIPPED [[]1[]] pyproject.toml*compress gate is off*--compress-gate*"])


def test_items_are_named_task_and_target(pytester: pytest.Pytester, gate_project) -> None:
    gate_project()
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["pyproject.toml::intent[[]cpu-int8[]]"])


def test_importing_the_plugin_does_not_import_torch() -> None:
    code = ("import pytest_compressgate.plugin, sys; "
            "heavy = [m for m in ('torch', 'transformers', 'onnxruntime') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_the_plugin_package_imports_pytest() -> None:
    """The core (sessions, reports, registry, the command) runs without pytest; the plugin/ package wires it in."""
    package = Path(pytest_compressgate.__file__).parent
    importing = re.compile(r"^\s*(import pytest|from pytest\b|import _pytest|from _pytest\b)", re.MULTILINE)
    outside = [str(p.relative_to(package)) for p in package.rglob("*.py")
               if p.relative_to(package).parts[0] != "plugin" and importing.search(p.read_text(encoding="utf-8"))]
    assert outside == []


def test_plain_run_in_a_project_with_a_gate_imports_nothing_heavy(pytester: pytest.Pytester, gate_project) -> None:
    gate_project()
    pytester.makepyfile(test_plain="""
        import sys
        def test_nothing_heavy():
            heavy = [m for m in ('torch', 'onnxruntime', 'transformers', 'scipy', 'datasets') if m in sys.modules]
            assert not heavy, heavy
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_plain.py")
    result.assert_outcomes(passed=1)


def test_project_without_a_gate_is_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "compress gate" not in result.stdout.str()


def test_flag_without_config_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest("--compress-gate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*found no config*[tool.compressgate]*"])
