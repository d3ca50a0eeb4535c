"""--compress-gate: a passing gate, a failing gate and the table in the summary."""

from __future__ import annotations

import pytest


def test_passing_gate_prints_table(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.2)
    result = pytester.runpytest("--compress-gate")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*compress gate*", "*intent*cpu-int8*accuracy*PASS*"])


def test_failing_gate_names_the_numbers(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.2, extra="min_score = 1.01")
    result = pytester.runpytest("--compress-gate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    for expected in ("intent[cpu-int8]", "accuracy source", "compressed", "drop", "allowed drop 0.2000",
                     "n=150", "min_score = 1.01", "FAIL"):
        assert expected in out, expected
    assert "Traceback" not in out


def test_gate_items_are_selected_by_keyword(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.2)
    result = pytester.runpytest("--compress-gate", "-k", "nothing-matches")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_gate_run_registers_artifact_and_evaluation(pytester: pytest.Pytester, gate_project) -> None:
    from pytest_compressgate.cli import main
    from pytest_compressgate.registry import open_registry

    path = gate_project(max_drop=0.2)
    path.write_text(path.read_text().replace('cache_dir = "', 'registry = "sqlite:///own.db"\ncache_dir = "'))
    pytester.runpytest("--compress-gate").assert_outcomes(passed=1)
    registry = open_registry("sqlite:///own.db", base_dir=pytester.path)
    try:
        (artifact,) = registry.list_artifacts(target="cpu-int8")
        details = registry.show(artifact.key)
        assert details.verdict.value == "PASS" and details.latest[0].task == "intent"
    finally:
        registry.close()
    assert main(["registry", "--url", f"sqlite:///{pytester.path / 'own.db'}", "approve", artifact.key[:8],
                 "--why", "reviewed the intent drop", "--who", "reviewer"]) == 0
