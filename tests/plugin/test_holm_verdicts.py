"""holm = true: the verdicts of a target's tasks are Holm-adjusted together, not only printed p-values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_holm_adjusts_each_tasks_verdict_across_the_target(pytester: pytest.Pytester, gate_project,
                                                           tiny_test_data: Path) -> None:
    second = (f'decision = "confident-pass"\n\n[tool.compressgate.tasks.intent-again]\ndata = "{tiny_test_data}"\n'
              'metric = "accuracy"\nmax_drop = 0.05\ndecision = "confident-pass"\n')
    gate_project(max_drop=0.05, extra=second, **{"cache_dir = ": "holm = true\ncache_dir = "})
    result = pytester.runpytest("--compress-gate", "--compress-gate-report=out")
    report = json.loads((pytester.path / "out" / "compressgate.json").read_text())["comparisons"]
    finals = [c for c in report if not c.get("stage")]
    assert sorted(c["task"] for c in finals) == ["intent", "intent-again"]
    for c in finals:
        assert c["margin_p"]["pass"] < 0.025, c["margin_p"]  # clears Holm's first step at 0.05 / 2
        assert c["reason"].startswith("Holm over 2 task(s) of target 'cpu-int8', family-wise 0.05")
        assert c["outcome"] == "PASS" and c["passed"]
    result.assert_outcomes(passed=2)
