"""The `compressgate` command, run in-process through ``main([...])``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_compressgate import __version__
from pytest_compressgate.cli import main
from pytest_compressgate.registry import Status, open_registry
from pytest_compressgate.report import write_json
from tests.tinymodels import gate_toml

from .registry.helpers import artifact, evaluation, key_for



def gate(**paths: object) -> str:
    return gate_toml(**paths, top='registry = "sqlite:///gate-registry.db"')



@pytest.fixture(autouse=True)
def reviewer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSGATE_USER", "reviewer")


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A registry with a passing artifact ('good') and a failing one ('bad')."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with open_registry(url) as registry:
        for name, passed in (("good", True), ("bad", False)):
            registry.record_artifact(artifact(name, target=f"{name}-target"))
            registry.record_evaluation(evaluation(key_for(name), target=f"{name}-target", passed=passed))
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("compressgate: error: ")
    return lines[0]


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"compressgate (pytest-compressgate) {__version__}"


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "pytest_compressgate", "--version"], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2], timeout=60)
    assert done.returncode == 0 and __version__ in done.stdout


def test_the_command_never_imports_pytest(tmp_path):
    code = ("import sys; from pytest_compressgate.cli import main; "
            f"main(['report', '--from', {str(tmp_path)!r}]); "
            f"main(['registry', '--url', 'sqlite:///{tmp_path / 'r.db'}', 'list']); "
            "import pytest_compressgate.cli.build, pytest_compressgate.report.summary; "
            "assert 'pytest' not in sys.modules and '_pytest' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=Path(__file__).parents[2],
                   timeout=60)


def test_list_show_approve_reject_card_round_trip(capsys, url, tmp_path):
    good, bad = key_for("good"), key_for("bad")
    code, out, _ = run(capsys, "registry", "--url", url, "list")
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split() == ["KEY", "TARGET", "STAGE", "HARDWARE", "SIZE", "VERDICT", "STATUS", "REGISTERED"]
    columns = {row.split()[0]: row.split()[6:8] for row in rows}  # size is "1.2 MiB": two words
    assert columns == {good[:12]: ["PASS", "pending"], bad[:12]: ["FAIL", "pending"]}

    code, out, _ = run(capsys, "registry", "approve", good[:8], "--url", url, "--why", "meets the bar")
    assert code == 0 and out.startswith(f"approved {good[:12]} (good-target 1-onnx-dynamic-int8) as reviewer")
    code, out, _ = run(capsys, "registry", "--url", url, "reject", good[:8], "--who", "security", "--why", "license")
    assert code == 0 and out.startswith(f"rejected {good[:12]}")

    code, out, _ = run(capsys, "registry", "--url", url, "show", good[:10])
    assert code == 0
    assert f"artifact   {good}" in out and "verdict    PASS" in out and "status     rejected by security" in out
    assert "intent[good-target] accuracy 0.9200 -> 0.9100, drop +0.0100 CI [-0.0050, +0.0300]" in out
    assert "approve by reviewer: meets the bar" in out and "reject by security: license" in out

    code, out, _ = run(capsys, "registry", "--url", url, "show", good, "--json")
    data = json.loads(out)
    assert data["status"] == "rejected" and [a["decision"] for a in data["approvals"]] == ["approve", "reject"]

    code, out, _ = run(capsys, "registry", "--url", url, "list", "--json", "--target", "good-target")
    assert [(item["key"], item["status"]) for item in json.loads(out)] == [(good, "rejected")]

    card = tmp_path / "cards" / "good.md"
    code, _, err = run(capsys, "registry", "--url", url, "card", good[:6], "--output", str(card))
    assert code == 0 and "model card written to" in err
    text = card.read_text()
    assert text.startswith("# Model card: good-target — onnx-dynamic-int8 (stage 2 of 2)")
    for section in ("## Recipe", "## Size", "## Libraries", "## Evaluations", "## Approval history"):
        assert section in text
    assert "[-0.0050, +0.0300] (95%)" in text and "| approve | reviewer | meets the bar |" in text
    assert "- Speedup vs source (latest evaluation): 1.70x, timed on cuda:0 beside the source" in text
    assert "- Scored on: cuda:0 (the source on cpu)" in text
    code, out, _ = run(capsys, "registry", "--url", url, "card", good[:6])
    assert code == 0 and out == text


def test_approving_a_failing_artifact_needs_force(capsys, url):
    bad = key_for("bad")
    code, out, err = run(capsys, "registry", "--url", url, "approve", bad[:8], "--why", "ok")
    assert code == 2 and out == ""
    assert "failed its latest gate" in one_line_error(err) and "--force" in err
    code, out, _ = run(capsys, "registry", "--url", url, "approve", bad[:8], "--why", "accepted loss", "--force")
    assert code == 0 and "(forced past a FAIL verdict)" in out
    with open_registry(url) as registry:
        assert registry.show(bad).status is Status.APPROVED and registry.show(bad).approvals[0].forced


@pytest.mark.parametrize("argv, expected", [
    (["show", "0123456789"], "no artifact '0123456789'"),
    (["approve", "ffffffff", "--why", "x"], "no artifact 'ffffffff'"),
    (["show", "abc"], "too short"),
    (["reject", "KEY"], "the following arguments are required: --why"),
    (["reject", "{good}", "--why", " "], "a rejection needs a reason"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_errors_exit_2_with_one_line(capsys, url, argv, expected):
    argv = [a.replace("{good}", key_for("good")) for a in argv]
    code, out, err = run(capsys, "registry", "--url", url, *argv)
    assert code == 2 and out == ""
    assert expected in one_line_error(err)


def test_registry_location_errors(capsys, tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "registry", "list")  # no config here, and no default registry file yet
    assert code == 2 and "no registry at" in one_line_error(err) and "pass --url" in err
    assert not (tmp_path / ".compressgate").exists()
    code, _, err = run(capsys, "registry", "--url", "postgres://x", "list")
    assert code == 2 and "not supported" in one_line_error(err)
    code, _, err = run(capsys, "registry", "--url", url, "--config", "x.toml", "list")
    assert code == 2 and "either --config or --url" in one_line_error(err)
    (tmp_path / "junk.db").write_text("not a database at all\n" * 50)
    code, _, err = run(capsys, "registry", "--url", f"sqlite:///{tmp_path / 'junk.db'}", "list")
    assert code == 2 and "is not a compressgate registry" in one_line_error(err)


def test_registry_from_config_resolves_against_the_config_folder(capsys, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    config = project / "pyproject.toml"
    config.write_text(gate(model="models/x", cache=".cache", data="data/test.jsonl"))
    with open_registry(f"sqlite:///{project / 'gate-registry.db'}") as registry:
        registry.record_artifact(artifact("a"))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "registry", "--config", str(config), "list")
    assert code == 0 and key_for("a")[:12] in out
    monkeypatch.chdir(project)  # found in the working directory without --config
    code, out, _ = run(capsys, "registry", "list")
    assert code == 0 and key_for("a")[:12] in out


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    from pytest_compressgate.result import GateResult

    comparisons = [GateResult(task="intent", target=t, metric="accuracy", higher_is_better=True, n=150,
                              source_score=0.9, compressed_score=0.9 - d, drop=d, allowed_drop=0.02, min_score=None,
                              decision="estimate", passed=d <= 0.02,
                              failures=[] if d <= 0.02 else ["drop too large"])
                   for t, d in (("cpu-int8", 0.01), ("edge", 0.05))]
    write_json(tmp_path / "report" / "compressgate.json", comparisons)
    return tmp_path / "report"


def test_report_re_renders_the_last_json_report(capsys, report_dir, tmp_path):
    code, out, _ = run(capsys, "report", "--from", str(report_dir))
    assert code == 0 and "cpu-int8" in out and "FAIL" in out and "PASS" in out
    code, out, _ = run(capsys, "report", "--from", str(report_dir), "--format", "markdown")
    assert code == 0 and out.startswith("### Compress gate: ❌ 1 failing")
    target = tmp_path / "out" / "report.json"
    code, _, err = run(capsys, "report", "--from", str(report_dir), "--format", "json", "--output", str(target))
    assert code == 0 and json.loads(target.read_text())["schema"] == "compressgate-report/1"


def test_report_from_a_folder_relative_to_the_config(capsys, report_dir, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(gate(model="m", cache=".c", data="d.jsonl"))
    monkeypatch.chdir(report_dir)
    code, out, _ = run(capsys, "report", "--config", str(tmp_path / "pyproject.toml"), "--from", "report")
    assert code == 0 and "edge" in out


def test_report_errors(capsys, tmp_path, report_dir):
    code, _, err = run(capsys, "report", "--from", str(tmp_path / "nowhere"))
    assert code == 2 and "no report folder" in one_line_error(err)
    (report_dir / "zz-other.json").write_text('{"hello": 1}')
    code, _, err = run(capsys, "report", "--from", str(report_dir))
    assert code == 2 and "is not a compress gate report" in one_line_error(err)
    code, _, err = run(capsys, "report", "--from", str(report_dir), "--format", "pdf")
    assert code == 2 and "invalid choice: 'pdf'" in one_line_error(err)


def test_build_errors(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "build")
    assert code == 2 and "no compress gate config in" in one_line_error(err) and "--config PATH" in err
    (tmp_path / "pyproject.toml").write_text(gate(model="m", cache=".c", data="d.jsonl"))
    code, _, err = run(capsys, "build", "--targets", "gpu")
    assert code == 2 and "unknown target(s) gpu; declared: cpu-int8" in one_line_error(err)
    code, _, err = run(capsys, "build", "--targets", ",")
    assert code == 2 and "comma-separated target names" in one_line_error(err)


def test_build_checks_the_recipe_files_before_building(capsys, tmp_path, monkeypatch, tiny_classifier_dir,
                                                        tiny_test_data):
    toml = gate(model=tiny_classifier_dir, cache=tmp_path / "cache", data=tiny_test_data).replace(
        '{ method = "onnx-dynamic-int8", per_channel = true }',
        '{ method = "onnx-static-int8", calibration = "data/calib.jsonl" }')
    (tmp_path / "pyproject.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "build")
    message = one_line_error(err)
    assert code == 2 and "targets.cpu-int8.recipe[0].calibration" in message and "calib.jsonl" in message
    assert out == "" and not (tmp_path / "cache" / "artifacts").exists()


@pytest.mark.slow
def test_build_builds_and_registers_every_stage(capsys, tmp_path, monkeypatch, tiny_classifier_dir, tiny_test_data):
    config = tmp_path / "pyproject.toml"
    config.write_text(gate(model=tiny_classifier_dir, cache=tmp_path / "cache", data=tiny_test_data))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "build")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("cpu-int8: 1 stage(s), 1 built, 0 from cache")
    assert lines[1].startswith("  0-onnx-dynamic-int8  key ") and str(tmp_path / "cache") in lines[1]
    assert lines[2].startswith("    stats: ")
    assert lines[-1].startswith("registry: 1 new artifact record(s) in sqlite:///") and "gate-registry.db" in lines[-1]
    code, out, _ = run(capsys, "build")  # warm: from the cache, nothing new to register
    assert code == 0 and "0 built, 1 from cache" in out and "registry: 0 new" in out
    code, out, _ = run(capsys, "registry", "list")
    assert code == 0 and "cpu-int8" in out and "UNEVALUATED" in out


def test_report_against_a_baseline_report(capsys, report_dir, tmp_path):
    document = json.loads((report_dir / "compressgate.json").read_text())
    document["comparisons"][0]["drop"] = 0.004  # main's cpu-int8 row lost less
    baseline = tmp_path / "main.json"
    baseline.write_text(json.dumps(document))
    code, out, _ = run(capsys, "report", "--from", str(report_dir), "--format", "markdown", "--baseline", str(baseline))
    assert code == 0 and f"| Δdrop vs {baseline} |" in out
    assert "| +0.0060 |" in out and "| +0.0000 |" in out  # cpu-int8 moved by 0.006 since main; edge did not
    code, _, err = run(capsys, "report", "--from", str(report_dir), "--baseline", str(tmp_path / "missing.json"))
    assert code == 2 and "--baseline " in one_line_error(err) and "no baseline at" in one_line_error(err)
