"""--compress-gate-early-stop: on a clear pass, at most half the examples and the full run's verdict."""

from __future__ import annotations

import json

import pytest

from tests.tinymodels import make_rows, write_jsonl


def test_clear_pass_stops_early_with_the_same_verdict(pytester: pytest.Pytester, gate_project) -> None:
    data = write_jsonl(pytester.path / "big.jsonl", make_rows(640, seed=7))
    gate_project(max_drop=0.25, **{"data = ": f'data = "{data}"\n#'})
    early = pytester.runpytest("--compress-gate", "--compress-gate-early-stop", "--compress-gate-report=early")
    full = pytester.runpytest("--compress-gate", "--compress-gate-report=full")
    early.assert_outcomes(passed=1)
    full.assert_outcomes(passed=1)
    (e,) = json.loads((pytester.path / "early" / "compressgate.json").read_text())["comparisons"]
    (f,) = json.loads((pytester.path / "full" / "compressgate.json").read_text())["comparisons"]
    assert e["n"] == f["n"] == 640
    assert e["examples_used"] <= 320
    assert e["interval"]["method"].startswith("repeated CI, look ")
    assert e["passed"] == f["passed"] is True
    early.stdout.fnmatch_lines([f"*{e['examples_used']}/640*PASS*"])
