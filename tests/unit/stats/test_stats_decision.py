from __future__ import annotations

import pytest

from pytest_compressgate.stats import Decision, DecisionMode, Interval, decide


def _interval(low: float, high: float, confidence: float = 0.95) -> Interval:
    return Interval(low=low, high=high, confidence=confidence, method="paired-bootstrap")


def test_estimate_gates_on_the_point_drop_inclusive_at_the_boundary() -> None:
    assert decide(mode=DecisionMode.ESTIMATE, drop=0.01, interval=None, allowed_drop=0.01).passed
    assert not decide(mode="estimate", drop=0.0101, interval=None, allowed_drop=0.01).passed
    # the interval is irrelevant in estimate mode
    assert decide(mode="estimate", drop=0.0, interval=_interval(0.5, 0.9), allowed_drop=0.01).passed


def test_estimate_reason_has_the_numbers() -> None:
    decision = decide(mode="estimate", drop=0.012, interval=None, allowed_drop=0.01)
    assert decision == Decision(False, "the measured drop, 0.012, is above the allowed drop 0.010")


def test_confident_pass_needs_the_upper_bound_within_budget() -> None:
    at_boundary = decide(mode=DecisionMode.CONFIDENT_PASS, drop=0.0, interval=_interval(-0.02, 0.01),
                         allowed_drop=0.01)
    assert at_boundary.passed
    above = decide(mode="confident-pass", drop=0.004, interval=_interval(-0.013, 0.021), allowed_drop=0.01)
    assert not above.passed
    assert above.reason == (
        "the upper 95% confidence bound of the drop, 0.021, is above the allowed drop 0.010 "
        "(measured drop 0.004, paired-bootstrap)"
    )


def test_confident_fail_needs_the_lower_bound_over_budget() -> None:
    at_boundary = decide(mode=DecisionMode.CONFIDENT_FAIL, drop=0.03, interval=_interval(0.01, 0.05),
                         allowed_drop=0.01)
    assert at_boundary.passed and "not shown to exceed" in at_boundary.reason
    over = decide(mode="confident-fail", drop=0.03, interval=_interval(0.0101, 0.05, 0.975), allowed_drop=0.01)
    assert not over.passed
    assert "lower 97.5% confidence bound of the drop, 0.0101, is above the allowed drop 0.0100" in over.reason


def test_modes_disagree_in_the_grey_zone() -> None:
    interval = _interval(0.002, 0.018)  # the budget 0.01 is inside the interval
    verdicts = {m: decide(mode=m, drop=0.008, interval=interval, allowed_drop=0.01).passed for m in DecisionMode}
    assert verdicts == {
        DecisionMode.ESTIMATE: True,
        DecisionMode.CONFIDENT_PASS: False,
        DecisionMode.CONFIDENT_FAIL: True,
    }


def test_zero_allowed_drop_is_valid() -> None:
    assert decide(mode="estimate", drop=0.0, interval=None, allowed_drop=0.0).passed
    assert not decide(mode="confident-pass", drop=0.0, interval=_interval(-0.01, 0.01), allowed_drop=0).passed


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"allowed_drop": -0.01}, "allowed_drop must be a finite number >= 0, got -0.01"),
        ({"allowed_drop": float("nan")}, "allowed_drop"),
        ({"mode": "strict"}, "mode must be one of .* got 'strict'"),
        ({"drop": float("nan")}, "drop must be a finite number, got nan"),
        ({"mode": "confident-pass", "interval": None}, "needs an interval"),
        ({"mode": "confident-fail", "interval": (0.0, 1.0)}, r"must be an Interval, got \(0.0, 1.0\)"),
    ],
)
def test_decide_rejects_bad_input(kwargs: dict, match: str) -> None:
    args = {"mode": "confident-pass", "drop": 0.0, "interval": _interval(0.0, 0.01), "allowed_drop": 0.01, **kwargs}
    with pytest.raises(ValueError, match=match):
        decide(**args)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.2, 0.1, 0.95), "low=0.2 high=0.1"),
        ((0.0, 0.1, 1.0), r"confidence must be in \(0, 1\), got 1.0"),
        ((float("nan"), 0.1, 0.95), "Interval.low must be a number, got nan"),
    ],
)
def test_interval_validates_itself(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _interval(*args)
