"""--junitxml carries each gate's numbers as properties of its test case (CI systems render them)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest


def test_junit_test_case_has_the_verdicts_numbers(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.2)
    result = pytester.runpytest("--compress-gate", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    (case,) = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    assert case.get("name") == "intent[cpu-int8]"
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["compressgate.verdict"] == "PASS" and properties["compressgate.metric"] == "accuracy"
    assert properties["compressgate.n"] == "150" and properties["compressgate.allowed_drop"] == "0.2000"
    assert properties["compressgate.outcome"] == "PASS" and properties["compressgate.p_test"] == "McNemar"
    full = json.loads(properties["compressgate"])  # the whole comparison, as JSON text
    assert full["task"] == "intent" and f"{full['drop']:+.4f}" == properties["compressgate.drop"]


def test_junit_marks_a_failing_gate_with_its_message(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.2, extra="min_score = 1.01")  # no accuracy reaches 1.01
    result = pytester.runpytest("--compress-gate", "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    (case,) = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    (failure,) = case.iter("failure")
    assert "intent[cpu-int8]: accuracy source" in failure.get("message", "") + (failure.text or "")
    assert {p.get("name"): p.get("value") for p in case.iter("property")}["compressgate.verdict"] == "FAIL"
