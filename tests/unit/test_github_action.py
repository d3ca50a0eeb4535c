"""The composite action (action.yml) and the project's workflow that uses it, read as GitHub reads them.

actionlint and zizmor (scripts/lint-workflows.sh) lint both; these checks hold what they cannot see: the
workflow passes only inputs the action declares, every step that runs the action's shell gets its values
through the environment (no expression expanded into a script), and every action is pinned to a commit.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow files")
ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
WORKFLOWS = {p.name: yaml.safe_load(p.read_text()) for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))}


def steps():
    yield "action.yml", ACTION["runs"]["steps"]
    for name, workflow in WORKFLOWS.items():
        for job in workflow["jobs"].values():
            yield name, job.get("steps", [])


def test_the_action_is_composite_and_its_steps_read_declared_inputs():
    assert ACTION["runs"]["using"] == "composite"
    declared = set(ACTION["inputs"])
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", (ROOT / "action.yml").read_text()))
    assert used <= declared, f"inputs used but not declared: {sorted(used - declared)}"
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash", f"composite run steps need a shell: {step['name']}"


def test_no_expression_is_expanded_into_a_script():
    for where, items in steps():
        for step in items:
            assert "${{" not in step.get("run", ""), f"{where}: {step.get('name')}: pass values through env"


def test_every_action_is_pinned_to_a_commit():
    for where, items in steps():
        for step in items:
            uses = step.get("uses")
            if uses and not uses.startswith("./"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"{where}: {uses} is not pinned to a SHA"


def test_the_projects_workflow_uses_the_action_with_inputs_it_declares():
    uses = [(step, name) for name, items in steps() if name != "action.yml" for step in items
            if step.get("uses") == "./"]
    assert uses, "the project's own workflow must use the action"
    for step, name in uses:
        unknown = set(step.get("with", {})) - set(ACTION["inputs"])
        assert not unknown, f"{name}: {step['name']} passes undeclared inputs {sorted(unknown)}"
    gate = WORKFLOWS["compressgate.yml"]["jobs"]["gate"]
    assert gate["permissions"]["pull-requests"] == "write", "the pull request comment needs it"
