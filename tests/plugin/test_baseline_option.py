"""--compress-gate-save-baseline keeps a run's results; --compress-gate-baseline shows how each row's drop
moved since then, or why it cannot be compared."""

from __future__ import annotations

import json

import pytest

from pytest_compressgate.report.baseline import BaselineError, attach, load_baseline, save_baseline
from pytest_compressgate.result import RESULT_SCHEMA, GateResult


def _comparisons(pytester: pytest.Pytester) -> list[dict]:
    return json.loads((pytester.path / "reports" / "compressgate.json").read_text())["comparisons"]


def test_saved_baseline_is_compared_with_the_next_run(pytester: pytest.Pytester, gate_project) -> None:
    path = gate_project(max_drop=0.2)
    saved = pytester.runpytest("--compress-gate", "--compress-gate-save-baseline=main-a")
    saved.assert_outcomes(passed=1)
    saved.stdout.fnmatch_lines(["*compress gate baseline 'main-a' saved to *baselines/main-a.json"])

    same = pytester.runpytest("--compress-gate", "--compress-gate-baseline=main-a", "--compress-gate-report=reports")
    same.assert_outcomes(passed=1)
    same.stdout.fnmatch_lines(["*Δdrop vs main-a*", "*intent*cpu-int8*+0.0000*"])
    (row,) = _comparisons(pytester)
    assert row["baseline"]["status"] == "same models" and row["baseline"]["drop_change"] == 0.0
    assert "| Δdrop vs main-a |" in (pytester.path / "reports" / "compressgate.md").read_text().splitlines()[2]

    # another recipe: the artifact is rebuilt and the row says how far its drop moved
    path.write_text(path.read_text().replace("per_channel = true", "per_channel = false"))
    rebuilt = pytester.runpytest("--compress-gate", "--compress-gate-baseline=main-a", "--compress-gate-report=reports")
    rebuilt.assert_outcomes(passed=1)
    (row,) = _comparisons(pytester)
    assert row["baseline"]["status"] == "rebuilt"
    assert row["baseline"]["drop_change"] == pytest.approx(row["drop"] - row["baseline"]["drop"])


def test_other_examples_are_not_compared(pytester: pytest.Pytester, gate_project, tiny_test_data) -> None:
    gate_project(max_drop=0.2)
    pytester.runpytest("--compress-gate", "--compress-gate-save-baseline=main-b").assert_outcomes(passed=1)
    fewer = pytester.path / "fewer.jsonl"
    fewer.write_text("".join(tiny_test_data.read_text().splitlines(keepends=True)[:100]))
    gate_project(max_drop=0.2, **{str(tiny_test_data): str(fewer)})
    result = pytester.runpytest("--compress-gate", "--compress-gate-baseline=main-b", "--compress-gate-report=reports")
    result.assert_outcomes(passed=1)
    (row,) = _comparisons(pytester)
    assert row["baseline"]["status"] == "different examples" and "drop_change" not in row["baseline"]
    result.stdout.fnmatch_lines(["*different examples*"])


def test_a_report_file_serves_as_the_baseline(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.2)
    pytester.runpytest("--compress-gate", "--compress-gate-report=main-report").assert_outcomes(passed=1)
    result = pytester.runpytest("--compress-gate", "--compress-gate-baseline=main-report/compressgate.json",
                                "--compress-gate-report=reports")
    result.assert_outcomes(passed=1)
    (row,) = _comparisons(pytester)
    assert row["baseline"]["ref"] == "main-report/compressgate.json" and row["baseline"]["drop_change"] == 0.0


def test_missing_baseline_is_a_usage_error_that_says_how_to_save_one(pytester: pytest.Pytester,
                                                                     gate_project) -> None:
    gate_project(max_drop=0.2)
    result = pytester.runpytest("--compress-gate", "--compress-gate-baseline=nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--compress-gate-baseline=nowhere: no baseline at *nowhere.json*"
                                 "Save one with `pytest --compress-gate --compress-gate-save-baseline=nowhere`"])


def test_bad_ref_is_rejected_by_the_option_parser(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.2)
    result = pytester.runpytest("--compress-gate", "--compress-gate-baseline=not a name")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*expected a baseline name*or a path to a compressgate.json report*"])


def test_a_file_that_is_not_a_report_is_refused(tmp_path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"schema": "something-else", "rows": []}))
    with pytest.raises(BaselineError, match="is not a compress gate report .*found 'something-else'"):
        load_baseline("other.json", path)
    path.write_text("{not json")
    with pytest.raises(BaselineError, match="is not readable JSON"):
        load_baseline("other.json", path)


def _result(target: str, drop: float, **fields) -> GateResult:
    return GateResult(task="intent", target=target, metric="accuracy", higher_is_better=True, n=150,
                      source_score=0.9, compressed_score=0.9 - drop, drop=drop, allowed_drop=0.02, min_score=None,
                      decision="estimate", keys={"examples": "e1", "source": "s1", "artifact": "a1"}, **fields)


def test_rows_without_a_baseline_row_are_new() -> None:
    now = [_result("gpu", 0.01)]
    attach(now, [], "main")
    assert now[0].baseline == {"ref": "main", "status": "new"}


def test_a_baseline_saved_by_an_older_run_still_loads(tmp_path) -> None:
    """Rows written before results carried their checks and schema read back with their verdict."""
    old_row = {k: v for k, v in _result("cpu-int8", 0.03, passed=False, failures=["too much"]).to_json().items()
               if k not in ("schema", "checks", "gated", "nodeid", "p_value_holm", "baseline")}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"schema": "compressgate-report/1", "passed": False, "comparisons": [old_row]}))
    (then,) = load_baseline("old.json", path)
    assert then.passed is False and then.failures == ["too much"] and then.drop == 0.03
    now = [_result("cpu-int8", 0.01)]
    attach(now, [then], "old.json")
    assert now[0].baseline == {"ref": "old.json", "drop": 0.03, "compressed_score": pytest.approx(0.87),
                               "passed": False, "status": "same models", "drop_change": pytest.approx(-0.02)}
    save_baseline(tmp_path / "again.json", now)  # saved without its baseline note, in today's form
    (again,) = load_baseline("again.json", tmp_path / "again.json")
    assert again.baseline is None and again.drop == 0.01 and again.to_json()["schema"] == RESULT_SCHEMA


def test_max_drop_increase_fails_a_gate_whose_drop_grew_since_the_baseline(pytester: pytest.Pytester,
                                                                           gate_project) -> None:
    gate_project(max_drop=0.2, extra="max_drop_increase = 0.005")
    pytester.runpytest("--compress-gate", "--compress-gate-report=main-run").assert_outcomes(passed=1)
    baseline = pytester.path / "main-run" / "compressgate.json"
    document = json.loads(baseline.read_text())
    document["comparisons"][0]["drop"] -= 0.01  # main lost 0.01 less than this run will
    baseline.write_text(json.dumps(document))
    result = pytester.runpytest("--compress-gate", f"--compress-gate-baseline={baseline}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*FAIL: the drop grew by +0.0100 since baseline '{baseline}' (*); "
                                 "max_drop_increase is 0.0050*"])
    document["comparisons"][0]["drop"] += 0.008  # now only 0.002 less: within the allowed increase
    baseline.write_text(json.dumps(document))
    pytester.runpytest("--compress-gate", f"--compress-gate-baseline={baseline}").assert_outcomes(passed=1)


def test_max_drop_increase_without_a_baseline_is_noted_not_checked(pytester: pytest.Pytester,
                                                                   gate_project) -> None:
    gate_project(max_drop=0.2, extra="max_drop_increase = 0.005")
    result = pytester.runpytest("--compress-gate", "--compress-gate-report=reports")
    result.assert_outcomes(passed=1)
    (row,) = _comparisons(pytester)
    assert "max_drop_increase = 0.005 not checked: no --compress-gate-baseline given" in row["warnings"]


def test_notes_of_passing_rows_reach_the_terminal_and_the_markdown(pytester: pytest.Pytester,
                                                                    gate_project) -> None:
    gate_project(max_drop=0.2, extra="max_drop_increase = 0.005")
    result = pytester.runpytest("--compress-gate", "--compress-gate-report=reports")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["note: intent?cpu-int8?: max_drop_increase = 0.005 not checked: "
                                 "no --compress-gate-baseline given"])
    markdown = (pytester.path / "reports" / "compressgate.md").read_text()
    assert "<summary>Notes</summary>" in markdown
    assert "- intent[cpu-int8]: max_drop_increase = 0.005 not checked" in markdown
