from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_compressgate.stats import ConfidenceSequence, DecisionMode, Interval, decide, early_stop_decided


def _paired_differences(rng: np.random.Generator, size: int, p_b: float = 0.04, p_c: float = 0.02) -> np.ndarray:
    return rng.choice([1.0, -1.0, 0.0], p=[p_b, p_c, 1 - p_b - p_c], size=size)


def test_empty_sequence_is_uninformative() -> None:
    cs = ConfidenceSequence()
    assert cs.n == 0 and math.isnan(cs.mean)
    assert cs.interval() == Interval(low=-1.0, high=1.0, confidence=0.95, method="confidence-sequence")


def test_sequence_tracks_the_running_mean_and_shrinks() -> None:
    rng = np.random.default_rng(0)
    cs = ConfidenceSequence()
    widths, data = [], []
    for _ in range(8):
        chunk = _paired_differences(rng, 500)
        data.append(chunk)
        cs.update(chunk)
        interval = cs.interval()
        widths.append(interval.high - interval.low)
        assert interval.low <= cs.mean <= interval.high
    assert cs.n == 4000 and cs.mean == pytest.approx(np.concatenate(data).mean())
    assert all(later <= earlier for earlier, later in zip(widths, widths[1:]))
    assert widths[-1] < 0.5 * widths[0]


def test_sequence_covers_the_true_mean_at_every_time_in_seeded_simulation() -> None:
    rng = np.random.default_rng(5)
    reps, true_mean, failures = 150, 0.02, 0
    for _ in range(reps):
        cs = ConfidenceSequence(grid_size=801)
        ever_missed = False
        for _ in range(6):
            cs.update(_paired_differences(rng, 250))
            interval = cs.interval()
            ever_missed |= not (interval.low <= true_mean <= interval.high)
        failures += ever_missed
    assert failures / reps <= 0.10  # anytime guarantee: at most 2 x (1 - 0.95) over all chunks together


def test_sequence_is_deterministic_and_chunking_does_not_matter() -> None:
    values = _paired_differences(np.random.default_rng(2), 1200)
    whole, pieces = ConfidenceSequence(), ConfidenceSequence()
    whole.update(values)
    for chunk in np.array_split(values, 7):
        pieces.update(chunk)
    assert whole.interval() == pieces.interval()


def test_graded_scores_are_accepted() -> None:
    rng = np.random.default_rng(3)
    cs = ConfidenceSequence()
    cs.update(np.clip(0.1 + 0.05 * rng.standard_normal(2000), -1, 1))
    interval = cs.interval()
    assert 0.05 < interval.low < 0.1 < interval.high < 0.15


def test_early_stop_decided_when_interval_is_on_one_side() -> None:
    def iv(low: float, high: float) -> Interval:
        return Interval(low=low, high=high, confidence=0.95, method="confidence-sequence")

    for mode in DecisionMode:
        assert early_stop_decided(iv(-0.02, 0.01), mode=mode, allowed_drop=0.01)  # settled pass
        assert early_stop_decided(iv(0.011, 0.05), mode=mode, allowed_drop=0.01)  # settled failure
        assert not early_stop_decided(iv(0.0, 0.02), mode=mode, allowed_drop=0.01)
        assert not early_stop_decided(iv(0.01, 0.02), mode=mode, allowed_drop=0.01)


def test_early_stop_on_a_clear_regression_then_decide_fails() -> None:
    rng = np.random.default_rng(4)
    cs = ConfidenceSequence()
    while not early_stop_decided(cs.interval(), mode="confident-fail", allowed_drop=0.01):
        cs.update(_paired_differences(rng, 200, p_b=0.10, p_c=0.01))
        assert cs.n < 20_000
    decision = decide(mode="confident-fail", drop=cs.mean, interval=cs.interval(), allowed_drop=0.01)
    assert not decision.passed and "confidence-sequence" in decision.reason


@pytest.mark.parametrize(
    ("values", "match"),
    [([0.5, 1.5], "got 1.5 at index 1"), ([np.nan], "got nan at index 0"), ([-2.0], "got -2.0")],
)
def test_update_rejects_values_outside_the_range(values: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ConfidenceSequence().update(np.array(values))


def test_bad_constructor_and_stop_arguments_raise() -> None:
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 1.2"):
        ConfidenceSequence(confidence=1.2)
    with pytest.raises(ValueError, match="grid_size"):
        ConfidenceSequence(grid_size=2)
    interval = ConfidenceSequence().interval()
    with pytest.raises(ValueError, match="got -0.5"):
        early_stop_decided(interval, mode="estimate", allowed_drop=-0.5)
    with pytest.raises(ValueError, match="got 'sometimes'"):
        early_stop_decided(interval, mode="sometimes", allowed_drop=0.01)
