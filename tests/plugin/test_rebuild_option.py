"""The cache: a warm run builds nothing; changing one key part rebuilds exactly what depends on it;
--compress-gate-rebuild ignores the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tinymodels import make_rows, write_jsonl


def builds(cache: Path) -> list[tuple[str, str]]:
    log = cache / "builds.jsonl"
    return [(e["kind"], e["key"]) for e in map(json.loads, log.read_text().splitlines())] if log.exists() else []


def kinds(events: list[tuple[str, str]]) -> list[str]:
    """What was built, timings aside: a timing is cached only when the machine was quiet while it was taken
    (contended timings are reported, never stored), so whether one is stored depends on the machine."""
    return sorted(kind for kind, _ in events if kind != "speed")


def keys(events: list[tuple[str, str]]) -> set[str]:
    """The keys built, timings aside (as in ``kinds``)."""
    return {key for kind, key in events if kind != "speed"}


@pytest.fixture
def project(pytester: pytest.Pytester, gate_project):
    cache = pytester.path / "cache"
    data = write_jsonl(pytester.path / "test.jsonl", make_rows(90, seed=3))

    def write(**overrides: str) -> None:
        path = gate_project(max_drop=0.2,
                            **{'cache_dir = "': f'cache_dir = "{cache}" #', "data = ": f'data = "{data}"\n#'})
        text = path.read_text()
        for old, new in overrides.items():
            assert old in text, old
            text = text.replace(old, new)
        path.write_text(text)

    def run(*args: str) -> list[tuple[str, str]]:
        before = len(builds(cache))
        pytester.runpytest("--compress-gate", *args).assert_outcomes(passed=1)
        return builds(cache)[before:]

    return write, run, data


def test_only_what_changed_is_rebuilt(project) -> None:
    write, run, data = project
    write()
    assert kinds(run()) == ["artifacts", "examples", "predictions", "predictions"]
    assert kinds(run()) == []  # warm: nothing built
    write(**{"max_drop = 0.2": "max_drop = 0.3"})
    assert kinds(run()) == []  # thresholds are not part of any key
    write(**{"per_channel = true": "per_channel = false"})
    assert kinds(run()) == ["artifacts", "predictions"]  # the source is not re-scored
    write_jsonl(data, make_rows(90, seed=4))  # same path, new bytes
    assert kinds(run()) == ["examples", "predictions", "predictions"]  # no artifact rebuilt
    write(**{'cache_dir = "': 'seed = 1\ncache_dir = "'})
    # the seed reaches every handler (distillation, head-importance sampling): artifacts are keyed by it too
    assert kinds(run()) == ["artifacts", "predictions", "predictions"]


def test_rebuild_ignores_the_cache(project) -> None:
    write, run, _ = project
    write()
    first = run()
    again = run("--compress-gate-rebuild")
    assert kinds(again) == kinds(first)
    assert keys(again) == keys(first)  # same keys, rebuilt


def test_a_cold_run_says_what_it_builds_scores_and_times(project, pytester: pytest.Pytester) -> None:
    """Status lines reach the terminal while items run (pytest registers its reporter after this plugin
    configures, so the line's writer is looked up when it is said); -q silences them."""
    write, _, _ = project
    write()
    quiet = pytester.runpytest("--compress-gate", "-q")
    quiet.assert_outcomes(passed=1)
    assert "compressgate: " not in quiet.stdout.str()
    said = pytester.runpytest("--compress-gate", "--compress-gate-rebuild")
    said.assert_outcomes(passed=1)
    said.stdout.fnmatch_lines(["compressgate: scoring *", "compressgate: timing *"], consecutive=False)
