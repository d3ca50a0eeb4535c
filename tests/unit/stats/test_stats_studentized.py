"""Bootstrap-t: the plain-mean case, corpus metrics, honest infinities and consistent p-values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_compressgate.stats import studentized_bootstrap
from pytest_compressgate.stats.studentized import from_resamples, influence_values


def test_influence_of_a_mean_is_the_centred_data_and_se_the_sample_se() -> None:
    rng = np.random.default_rng(0)
    d = rng.normal(0.1, 1.0, 80)
    boot = studentized_bootstrap(lambda idx: float(d[idx].mean()), 80, n_resamples=400, seed=1)
    assert boot.drop == pytest.approx(d.mean())
    assert boot.se == pytest.approx(d.std(ddof=1) / math.sqrt(80))
    jack = np.array([np.delete(d, i).mean() for i in range(80)])
    assert influence_values(jack) == pytest.approx(d - d.mean())


def test_bounds_hold_the_drop_and_are_deterministic() -> None:
    rng = np.random.default_rng(2)
    src, cmp_ = rng.random(120), rng.random(120)
    fn = lambda idx: float(src[idx].mean() - cmp_[idx].mean())  # noqa: E731
    a = studentized_bootstrap(fn, 120, n_resamples=300, seed=5).interval(0.95)
    assert a == studentized_bootstrap(fn, 120, n_resamples=300, seed=5).interval(0.95)
    assert a.low < fn(np.arange(120)) < a.high and a.method == "bootstrap-t + percentile"


def test_identical_models_give_infinite_bounds_not_a_zero_width_interval() -> None:
    boot = studentized_bootstrap(lambda idx: 0.0, 50, n_resamples=100)
    interval = boot.interval(0.95)
    assert interval.low == -math.inf and interval.high == math.inf
    assert boot.margin_p(0.01, side="pass") == 1.0


def test_bound_is_infinite_when_too_many_resamples_lose_every_disagreement() -> None:
    # one discordant example in 40: about 36% of resamples hold none, so no finite upper bound at 95%
    d = np.zeros(40)
    d[0] = 1.0
    interval = studentized_bootstrap(lambda idx: float(d[idx].mean()), 40, n_resamples=500).interval(0.95)
    assert interval.high == math.inf and interval.low <= 1 / 40


def test_margin_p_values_agree_with_the_bounds() -> None:
    rng = np.random.default_rng(4)
    d = rng.normal(0.02, 0.2, 400)
    n = d.size
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(999)])
    jack = np.array([np.delete(d, i).mean() for i in range(n)])
    boot = from_resamples(float(d.mean()), influence_values(jack), counts @ d / n, counts)
    for level in (0.9, 0.95, 0.99):
        interval = boot.interval(level)
        # passing at this level (upper <= allowed) is having a pass-side p-value <= 1 - level
        for allowed in (interval.high - 1e-6, interval.high + 1e-6):
            assert (interval.high <= allowed) == (boot.margin_p(allowed, side="pass") <= 1 - level + 1e-12)
    assert 0 <= boot.p_value() <= 1


def test_non_finite_drops_are_refused() -> None:
    with pytest.raises(ValueError, match="non-finite drop"):
        studentized_bootstrap(lambda idx: float("nan"), 10)


def test_a_drop_every_example_shares_is_pinned_down() -> None:
    # each example's per-token NLL rises by the same 0.2: no spread, yet a drop the data do determine
    nll, tokens = np.array([2.0, 4.0, 6.0] * 10), np.array([1.0, 2.0, 3.0] * 10)

    def drop(idx: np.ndarray) -> float:
        return float(np.exp(1.1 * nll[idx].sum() / tokens[idx].sum()) - np.exp(nll[idx].sum() / tokens[idx].sum()))

    boot = studentized_bootstrap(drop, 30, n_resamples=200)
    interval = boot.interval(0.95)
    assert interval.low == pytest.approx(boot.drop) and interval.high == pytest.approx(boot.drop)
    assert boot.margin_p(boot.drop + 0.1, side="pass") < 0.01 and boot.margin_p(boot.drop + 0.1, side="fail") == 1
