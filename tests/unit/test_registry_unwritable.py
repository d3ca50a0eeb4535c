"""A registry that cannot be written does not hide the results: the summary and the reports are written,
a line says the registry was not, and the run exits 3 (the gates passed; the recording did not)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.campaign_cases import run_gate, write_project
from tests.tinymodels import make_rows


def test_a_broken_registry_file_still_writes_the_reports(tmp_path: Path, tiny_classifier_dir: Path) -> None:
    registry = tmp_path / "registry.db"
    registry.write_bytes(b"not a database, a file someone overwrote" * 50)
    rows = [{**row, "pair": "please help"} for row in make_rows(45, seed=7)]  # pairs: no speed timing to wait for
    root = write_project(tmp_path / "p", tiny_classifier_dir, rows, top_extra=f'registry = "sqlite:///{registry}"',
                         task_extra='max_examples = 45\ntext_pair_column = "pair"')
    result = run_gate(root, f"--compress-gate-report={tmp_path / 'report'}")
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "compressgate.json").read_text())
    assert report["passed"] and report["comparisons"][0]["n"] == 45
    assert f"compress gate: the registry sqlite:///{registry} was NOT written (" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_under_xdist_a_worker_that_cannot_record_fails_the_run(tmp_path: Path, tiny_classifier_dir: Path) -> None:
    """Each worker records its own results; one that cannot tells the controller, which says so and exits 3."""
    registry = tmp_path / "registry.db"
    registry.write_bytes(b"not a database, a file someone overwrote" * 50)
    rows = [{**row, "pair": "please help"} for row in make_rows(45, seed=7)]
    root = write_project(tmp_path / "p", tiny_classifier_dir, rows, top_extra=f'registry = "sqlite:///{registry}"',
                         task_extra='max_examples = 45\ntext_pair_column = "pair"')
    result = run_gate(root, "-n", "2")
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"compress gate: the registry sqlite:///{registry} was NOT written (" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
