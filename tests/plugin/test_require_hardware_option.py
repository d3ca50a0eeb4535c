"""A target whose hardware is missing is built, then skipped with the missing capability named;
--compress-gate-require-hardware turns the skip into a failure."""

from __future__ import annotations

import pytest

from pytest_compressgate.targets import PRESETS, detect_machine
from tests.tinymodels import target_toml

pytestmark = pytest.mark.skipif(not PRESETS.get("cuda").missing(detect_machine()),
                                reason="this machine has a CUDA GPU, so nothing is missing to test")

GPU_TARGET = target_toml("gpu-int8", "cuda", "onnx-dynamic-int8")


def test_missing_hardware_skips_with_the_capability_named(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(extra=GPU_TARGET)
    result = pytester.runpytest("--compress-gate", "-rs", "--compress-gate-targets=gpu-int8")
    result.assert_outcomes(skipped=1)
    # reported at the gate item's own location, the config file, not inside the plugin
    result.stdout.fnmatch_lines(["SKIPPED ?1? pyproject.toml:1: scoring target 'gpu-int8' needs cuda: "
                                 "this machine lacks a CUDA GPU; artifact built at*"])


def test_require_hardware_fails_instead(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(extra=GPU_TARGET)
    result = pytester.runpytest("--compress-gate", "--compress-gate-require-hardware",
                                "--compress-gate-targets=gpu-int8")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*lacks a CUDA GPU*--compress-gate-require-hardware is set*"])


def test_speed_gates_off_target_are_notes_or_failures(pytester: pytest.Pytester, gate_project) -> None:
    arm = ('[tool.compressgate.targets.arm]\nhardware = "arm64"\n'
           'recipe = [{ method = "onnx-dynamic-int8" }]\nmin_speedup = 1.0\n')
    if not PRESETS.get("arm64").missing(detect_machine()):
        pytest.skip("this machine is arm64")
    gate_project(max_drop=0.2, extra=arm)
    result = pytester.runpytest("--compress-gate", "--compress-gate-targets=arm", "--compress-gate-require-hardware")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*speed gates not checked: this machine lacks a aarch64/arm64 CPU*"])


def test_a_source_on_a_missing_gpu_skips_or_fails(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(**{'task = "text-classification" }': 'task = "text-classification", device = "cuda" }'})
    skipped = pytester.runpytest("--compress-gate", "-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*source.device = 'cuda' scores the source on a GPU: this machine lacks a CUDA GPU*"])
    failed = pytester.runpytest("--compress-gate", "--compress-gate-require-hardware")
    failed.assert_outcomes(failed=1)
