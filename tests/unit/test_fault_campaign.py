"""The fault campaign's fast parts (benchmarks/fault_campaign.py runs them at full size): fuzzed configs
never crash the loader, and every bad input gives exit 4 and one line naming the key, file or value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.campaign_cases import BAD_INPUTS, check_bad_inputs_in_one_process, fuzz_loader, run_gate, write_project
from tests.tinymodels import make_rows


def test_fuzzed_configs_never_crash_the_loader(tmp_path: Path) -> None:
    result = fuzz_loader(300, workdir=tmp_path, seed=1)
    assert result.counts["crash"] == 0, result.crashes
    assert result.counts["configs"] == 300
    assert result.counts["ConfigError"] > 100 and result.counts["multi-line ConfigError"] == 0  # the fuzz bites


def test_every_bad_input_is_one_line_and_exit_4(tmp_path: Path, tiny_classifier_dir: Path) -> None:
    outcomes = check_bad_inputs_in_one_process(BAD_INPUTS, tmp_path, tiny_classifier_dir, make_rows(60, seed=99))
    wrong = {case.name: problem for case, problem in zip(BAD_INPUTS, outcomes) if problem}
    assert not wrong


def test_trust_remote_code_says_what_will_run(tmp_path: Path, tiny_classifier_dir: Path) -> None:
    root = write_project(tmp_path / "p", tiny_classifier_dir, make_rows(30, seed=5),
                         source_extra=", trust_remote_code = true")
    (root / "model" / "modeling_tiny.py").write_text("print('remote code ran')\n")
    config = json.loads((root / "model" / "config.json").read_text())
    (root / "model" / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling_tiny.Tiny"}}))
    result = run_gate(root, "--collect-only")
    assert result.returncode == 0, result.stderr[-2000:]
    assert ("WARNING: compress gate: source.trust_remote_code = true: transformers will import and run Python code "
            "shipped with 'model' (modeling_tiny.py; auto_map: AutoModel -> modeling_tiny.Tiny)") in result.stderr
    assert "remote code ran" not in result.stdout + result.stderr  # saying, not running


def test_a_stage_key_a_non_utf8_file_and_an_unhashable_method_were_the_fuzz_crashes(tmp_path: Path) -> None:
    """The three crash classes the first 10,000-config fuzz found, each as the loader now answers it."""
    from pytest_compressgate.config import ConfigError, load_config

    base = ('source = { model = "m" }\n[targets.t]\nhardware = "cpu"\nrecipe = [{ method = %s }]\n%s\n'
            '[tasks.q]\ndata = "d.jsonl"\n')
    cases = [(base % ('"torch-dynamic-int8"', 'stages = { "²" = {} }')).encode(), (base % ('["a"]', "")).encode(),
             (base % ('"torch-dynamic-int8"', "")).encode() + b"# \xff\n"]
    for data in cases:
        (tmp_path / "compressgate.toml").write_bytes(data)
        with pytest.raises(ConfigError):
            load_config(tmp_path / "compressgate.toml")
