"""A bad config exits with code 4 and one line naming the key, the value and what is valid."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("replace", "with_", "expected"),
    [
        ("max_drop =", "max_dorp =",
         "*tool.compressgate.tasks.intent.max_dorp: unknown key. Did you mean 'max_drop'?*"),
        ("per_channel = true", "per_chanel = true",
         "*targets.cpu-int8.recipe[[]0[]].per_chanel: unknown key. Did you mean 'per_channel'?*"),
        ('"onnx-dynamic-int8"', '"onnx-dynamic-int9"',
         "*recipe[[]0[]].method: unknown compression method 'onnx-dynamic-int9'. Did you mean*"),
        ('"x86-avx2"', '"x86-avx3"', "*hardware: unknown hardware preset 'x86-avx3'*Known:*"),
        ('metric = "accuracy"', 'metric = "bleu"', "*tasks.intent.metric = 'bleu' does not apply*accuracy, macro_f1*"),
        ("per_channel = true", 'per_channel = "yes"', "*per_channel = 'yes' is invalid: expected true or false*"),
    ],
)
def test_bad_config_is_a_one_line_usage_error(pytester: pytest.Pytester, gate_project, replace, with_,
                                              expected) -> None:
    gate_project(**{replace: with_})
    result = pytester.runpytest("--compress-gate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: compress gate config error: pyproject.toml: " + expected])
    assert len([line for line in result.stderr.lines if line.strip()]) == 1


def test_negative_threshold_is_rejected(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=-0.1)
    result = pytester.runpytest("--compress-gate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*tasks.intent: max_drop = -0.1 is invalid: expected a number >= 0*"])


def test_override_for_undeclared_target(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(extra="[tool.compressgate.tasks.intent.targets.cpu-int4]\nmax_drop = 0.1")
    result = pytester.runpytest("--compress-gate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*tasks.intent.targets.cpu-int4: no such target. Did you mean 'cpu-int8'?*"])
