from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from pytest_compressgate.stats import Interval, binary_drop_interval, mcnemar_exact, score_drop_bounds


def _pairs(b: int, c: int, both_right: int = 50, both_wrong: int = 10) -> tuple[np.ndarray, np.ndarray]:
    source = np.array([1] * b + [0] * c + [1] * both_right + [0] * both_wrong, dtype=bool)
    compressed = np.array([0] * b + [1] * c + [1] * both_right + [0] * both_wrong, dtype=bool)
    return source, compressed


@pytest.mark.parametrize(("b", "c", "expected"), [(10, 2, 0.0386), (2, 10, 0.0386), (5, 5, 1.0), (7, 0, 0.0156)])
def test_mcnemar_exact_matches_binomial_test(b: int, c: int, expected: float) -> None:
    p = mcnemar_exact(*_pairs(b, c))
    assert p == pytest.approx(binomtest(b, b + c, 0.5).pvalue, abs=1e-12)
    assert p == pytest.approx(expected, abs=5e-5)


def test_mcnemar_exact_is_one_without_discordant_pairs() -> None:
    assert mcnemar_exact(*_pairs(0, 0)) == 1.0


def test_mcnemar_ignores_concordant_pairs() -> None:
    assert mcnemar_exact(*_pairs(10, 2, both_right=5)) == mcnemar_exact(*_pairs(10, 2, both_right=500))


def test_binary_interval_contains_estimate_and_is_labelled() -> None:
    source, compressed = _pairs(30, 10, both_right=900, both_wrong=60)
    interval = binary_drop_interval(source, compressed, confidence=0.9)
    assert isinstance(interval, Interval)
    assert interval.method == "discordant-pairs" and interval.confidence == 0.9
    assert interval.low < 20 / 1000 < interval.high
    assert interval.low > 0  # b=30 vs c=10 at n=1000 is a clear drop


def test_binary_interval_without_discordant_pairs_is_honest_not_a_point() -> None:
    # 200 identical outcomes cannot rule out a discordant rate of a few per 200, so the bounds are not [0, 0]
    interval = binary_drop_interval(np.ones(200, bool), np.ones(200, bool))
    assert interval.low < 0 < interval.high
    assert interval.high == pytest.approx(-interval.low)
    assert 1.5 / 200 < interval.high < 5 / 200


def test_binary_interval_handles_extremes() -> None:
    all_lost = binary_drop_interval(np.ones(20, bool), np.zeros(20, bool))
    assert all_lost.high == 1.0 and 0.5 < all_lost.low < 1.0
    all_gained = binary_drop_interval(np.zeros(20, bool), np.ones(20, bool))
    assert all_gained.low == -1.0 and -1.0 < all_gained.high < -0.5


def test_binary_interval_coverage_in_seeded_simulation() -> None:
    rng = np.random.default_rng(7)
    n, p_b, p_c, reps, confidence = 400, 0.07, 0.03, 400, 0.95
    counts = rng.multinomial(n, [p_b, p_c, 1 - p_b - p_c], size=reps)
    low, high = score_drop_bounds(counts[:, 0], counts[:, 1], n, confidence=confidence)
    true_drop = p_b - p_c
    miss_low, miss_high = np.mean(low > true_drop), np.mean(high < true_drop)
    assert miss_low <= 0.09 and miss_high <= 0.09  # each bound: nominal 5% one-sided
    assert 0.85 <= np.mean((low <= true_drop) & (true_drop <= high)) <= 0.97  # nominal 2 x 0.95 - 1 = 0.90


def test_public_function_agrees_with_vectorised_engine() -> None:
    source, compressed = _pairs(13, 4, both_right=150, both_wrong=33)
    interval = binary_drop_interval(source, compressed)
    low, high = score_drop_bounds(np.array([13]), np.array([4]), 200)
    assert (interval.low, interval.high) == (low[0], high[0])


def test_binary_inputs_accept_zero_one_integers() -> None:
    assert mcnemar_exact([1, 1, 0], [0, 1, 0]) == mcnemar_exact([True, True, False], [False, True, False])


@pytest.mark.parametrize(
    ("source", "compressed", "match"),
    [
        ([1, 0, 1], [1, 0], r"lengths 3 and 2"),
        ([1, 2, 0], [1, 0, 0], r"2 at index 1"),
        ([], [], r"empty"),
        ([[1, 0]], [[1, 0]], r"shape \(1, 2\)"),
    ],
)
def test_binary_bad_input_raises(source: list, compressed: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mcnemar_exact(source, compressed)
    with pytest.raises(ValueError, match=match):
        binary_drop_interval(source, compressed)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.2, float("nan")])
def test_binary_interval_rejects_bad_confidence(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        binary_drop_interval([1, 0], [0, 1], confidence=confidence)


def test_score_bounds_reject_impossible_counts() -> None:
    with pytest.raises(ValueError, match="b=8.0, c=5.0"):
        score_drop_bounds(np.array([8]), np.array([5]), 10)
