"""pytest-xdist: targets spread over workers, one artifact built once, results gathered into one report."""

from __future__ import annotations

import json

import pytest

SECOND_TASK = """
[tool.compressgate.tasks.intent-f1]
data = "{data}"
metric = "macro_f1"
max_drop = 0.2
"""


@pytest.mark.slow
def test_workers_share_the_cache_and_one_report(pytester: pytest.Pytester, gate_project, tiny_test_data) -> None:
    pytest.importorskip("xdist")
    path = gate_project(max_drop=0.2, extra=SECOND_TASK.format(data=tiny_test_data))
    cache = pytester.path / "own-cache"
    path.write_text(path.read_text().replace('cache_dir = "', f'cache_dir = "{cache}" #'))
    result = pytester.runpytest_subprocess("-n", "2", "--compress-gate", "--compress-gate-report=r", "-p",
                                           "no:cacheprovider")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "r" / "compressgate.json").read_text())
    assert sorted(c["task"] for c in report["comparisons"]) == ["intent", "intent-f1"]
    builds = [json.loads(line) for line in (cache / "builds.jsonl").read_text().splitlines()]
    assert [b["kind"] for b in builds].count("artifacts") == 1
    result.stdout.fnmatch_lines(["*intent *cpu-int8*PASS*"])
