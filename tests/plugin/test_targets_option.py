"""--compress-gate-targets narrows the run; a malformed or unknown value is a usage error."""

from __future__ import annotations

import pytest

SECOND_TARGET = """
[tool.compressgate.targets.cpu-avx2]
hardware = "x86-avx2"
recipe = [{ method = "onnx-dynamic-int8", preset = "avx2" }]
"""


def test_only_named_targets_are_collected(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(extra=SECOND_TARGET)
    result = pytester.runpytest("--collect-only", "-q", "--compress-gate-targets=cpu-avx2")
    result.stdout.fnmatch_lines(["*intent[[]cpu-avx2[]]*"])
    assert "intent[cpu-int8]" not in result.stdout.str()


def test_unknown_target_is_a_usage_error(pytester: pytest.Pytester, gate_project) -> None:
    gate_project()
    result = pytester.runpytest("--compress-gate-targets=gpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown target(s) gpu; declared: cpu-int8*"])


def test_malformed_value_names_the_expected_form(pytester: pytest.Pytester, gate_project) -> None:
    gate_project()
    result = pytester.runpytest("--compress-gate-targets=a b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*expected comma-separated target names*"])
