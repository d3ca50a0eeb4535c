"""Fixtures for custom benchmarks: compress_gate, source_model, compressed_model and the marker."""

from __future__ import annotations

import pytest

CUSTOM = """
import pytest
from pytest_compressgate import assert_no_regression, assert_scores_no_regression

def test_compare(compress_gate, compressed_model):
    comparison = compress_gate.compare("intent", compressed_model.label)
    assert_no_regression(comparison)
    assert compress_gate.evaluate("intent") == comparison.source_score

def test_custom_scorer(source_model, compressed_model):
    texts = ["my invoice please", "where is my parcel", "reset my password"]
    def scores(m):
        enc = m.tokenizer(texts, return_tensors="pt", padding=True)
        return [float(x) for x in m.model(**enc).logits.argmax(-1) == m.model(**enc).logits.argmax(-1)]
    assert_scores_no_regression(scores(source_model), scores(compressed_model), max_drop=0.0)

@pytest.mark.compress_gate(targets=["cpu-int8"])
def test_narrowed(compressed_model):
    assert compressed_model.label == "cpu-int8"

def test_regression_message():
    assert_scores_no_regression([1] * 50, [1] * 40 + [0] * 10, max_drop=0.05, task="tone", target="edge")
"""


def test_fixtures_and_helpers(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.2)
    pytester.makepyfile(test_custom=CUSTOM)
    result = pytester.runpytest("--compress-gate", "test_custom.py", "-v")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*test_compare[[]cpu-int8[]] PASSED*", "*test_narrowed[[]cpu-int8[]] PASSED*",
                                 "*tone[[]edge[]]: mean_score source 1.0000 -> compressed 0.8000; drop +0.2000*"])


def test_fixtures_skip_when_gate_is_off(pytester: pytest.Pytester, gate_project) -> None:
    gate_project()
    pytester.makepyfile(test_custom="def test_a(compressed_model):\n    pass\n")
    result = pytester.runpytest("test_custom.py", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*compress gate is off*"])


def test_marker_with_unknown_target_is_an_error(pytester: pytest.Pytester, gate_project) -> None:
    gate_project()
    pytester.makepyfile(test_custom="""
        import pytest
        @pytest.mark.compress_gate(targets=["gpu-int4"])
        def test_a(compressed_model):
            pass
    """)
    result = pytester.runpytest("test_custom.py")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown target(s) gpu-int4; declared: cpu-int8*"])
