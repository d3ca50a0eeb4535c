from __future__ import annotations

import pytest

from fractions import Fraction

from pytest_compressgate.stats import Decision, DecisionMode, Interval, Outcome, decide


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
    assert not above.passed and above.outcome is Outcome.INCONCLUSIVE
    assert above.reason.startswith(
        "INCONCLUSIVE: the upper 95% confidence bound of the drop, 0.021, is above the allowed drop 0.010 "
        "and the lower, -0.013, is not"
    )
    assert above.reason.endswith('inconclusive = "fail" fails the build')


def test_confident_fail_needs_the_lower_bound_over_budget() -> None:
    at_boundary = decide(mode=DecisionMode.CONFIDENT_FAIL, drop=0.03, interval=_interval(0.01, 0.05),
                         allowed_drop=0.01)
    assert at_boundary.passed
    assert at_boundary.outcome is Outcome.INCONCLUSIVE and "neither shown within it nor shown to exceed it" \
        in at_boundary.reason
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


def test_inconclusive_policy_and_the_examples_that_would_decide() -> None:
    interval = _interval(-0.004, 0.016)  # drop 0.006, upper bound 0.010 above it: budget 0.01 straddled
    doubt = decide(mode="confident-pass", drop=0.006, interval=interval, allowed_drop=0.01, n=1000)
    assert doubt.outcome is Outcome.INCONCLUSIVE and not doubt.passed
    assert doubt.needed == 6250  # 1000 x (0.010 / 0.004)^2: the bound must come within 0.004 of the drop
    assert "about 6,250 examples would decide" in doubt.reason
    lenient = decide(mode="confident-pass", drop=0.006, interval=interval, allowed_drop=0.01, n=1000,
                     inconclusive="pass")
    assert lenient.passed and lenient.outcome is Outcome.INCONCLUSIVE
    on_budget = decide(mode="confident-fail", drop=0.01, interval=_interval(0.0, 0.02), allowed_drop=0.01, n=50)
    assert on_budget.needed is None and "no number of examples can be promised" in on_budget.reason
    assert on_budget.passed  # confident-fail gives doubt the benefit


def test_confident_modes_agree_when_the_data_decide() -> None:
    for interval, outcome in ((_interval(0.0, 0.009), Outcome.PASS), (_interval(0.011, 0.02), Outcome.FAIL)):
        for mode in ("confident-pass", "confident-fail"):
            decision = decide(mode=mode, drop=0.01, interval=interval, allowed_drop=0.01)
            assert decision.outcome is outcome and decision.passed is (outcome is Outcome.PASS)


def test_exact_ties_pass_in_estimate_mode() -> None:
    # 892 vs 900 correct of 1,000: the float drop is 0.008000000000000007, the exact one 8/1000
    drop = 0.9 - 0.892
    assert drop > 0.008
    tie = decide(mode="estimate", drop=drop, interval=None, allowed_drop=0.008,
                 exact=(Fraction(8, 1000), Fraction("0.008")))
    assert tie.passed and "at or below" in tie.reason
    over = decide(mode="estimate", drop=0.009, interval=None, allowed_drop=0.008,
                  exact=(Fraction(9, 1000), Fraction("0.008")))
    assert not over.passed


def test_float_ties_pass_within_the_documented_tolerance() -> None:
    assert decide(mode="estimate", drop=0.2 + 1e-12, interval=None, allowed_drop=0.2).passed
    assert not decide(mode="estimate", drop=0.2 + 1e-6, interval=None, allowed_drop=0.2).passed
    # the tolerance scales with the scores: perplexities near 1e4 round at about 1e-12 x 1e4
    assert decide(mode="estimate", drop=0.5 + 2e-7, interval=None, allowed_drop=0.5, scale=1e4).passed
    assert decide(mode="confident-pass", drop=0.0, interval=_interval(-0.1, 0.2 + 1e-12), allowed_drop=0.2).passed


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
