"""--compress-gate-report writes JSON and Markdown; $GITHUB_STEP_SUMMARY receives the Markdown."""

from __future__ import annotations

import json

import pytest


def test_reports_are_written(pytester: pytest.Pytester, gate_project, monkeypatch) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gate_project(max_drop=0.2)
    result = pytester.runpytest("--compress-gate", "--compress-gate-report=reports")
    result.assert_outcomes(passed=1)
    document = json.loads((pytester.path / "reports" / "compressgate.json").read_text())
    assert document["passed"] is True
    (comparison,) = document["comparisons"]
    assert comparison["task"] == "intent" and comparison["target"] == "cpu-int8" and comparison["n"] == 150
    assert 0 <= comparison["source_score"] <= 1 and comparison["allowed_drop"] == pytest.approx(0.2)
    assert comparison["performance"]["device"] == "cpu"  # where the predictions ran: a CPU target, on CPU
    assert comparison["performance"]["source_device"] == "cpu"  # source.device defaults to CPU
    markdown = (pytester.path / "reports" / "compressgate.md").read_text()
    assert "| intent | cpu-int8 |" in markdown and "PASS" in markdown
    assert summary.read_text() == markdown
    assert (pytester.path / "reports" / "compressgate.png").read_bytes()[:4] == b"\x89PNG"


def test_report_dir_from_ini(pytester: pytest.Pytester, gate_project) -> None:
    path = gate_project(max_drop=0.2)
    path.write_text(path.read_text() + '\n[tool.pytest.ini_options]\ncompress_gate_report = "from-ini"\n')
    pytester.runpytest("--compress-gate").assert_outcomes(passed=1)
    assert (pytester.path / "from-ini" / "compressgate.json").is_file()
