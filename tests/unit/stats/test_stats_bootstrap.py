from __future__ import annotations

import numpy as np
import pytest

from pytest_compressgate.stats import paired_bootstrap_interval


def _mean_drop(source: np.ndarray, compressed: np.ndarray):
    return lambda idx: float(source[idx].mean() - compressed[idx].mean())


def test_bootstrap_is_deterministic_for_a_seed_and_varies_with_it() -> None:
    rng = np.random.default_rng(0)
    source = rng.random(100)
    compressed = source - 0.05 + 0.1 * rng.standard_normal(100)
    fn = _mean_drop(source, compressed)
    first = paired_bootstrap_interval(fn, 100, n_resamples=300, seed=3)
    assert first == paired_bootstrap_interval(fn, 100, n_resamples=300, seed=3)
    assert first != paired_bootstrap_interval(fn, 100, n_resamples=300, seed=4)
    assert first.method == "paired-bootstrap" and first.confidence == 0.95
    assert first.low < 0.05 < first.high


def test_bootstrap_pairs_the_models_on_the_same_indices() -> None:
    seen = []

    def drop_fn(idx: np.ndarray) -> float:
        seen.append(idx.copy())
        return 0.0

    interval = paired_bootstrap_interval(drop_fn, 17, n_resamples=25)
    assert len(seen) == 25 and all(s.shape == (17,) and s.min() >= 0 and s.max() < 17 for s in seen)
    assert interval.low == interval.high == 0.0  # identical models: every resample has drop 0


def test_bootstrap_handles_a_corpus_level_metric() -> None:
    # macro-averaged recall over two classes is not a per-example mean; the bootstrap recomputes it
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    src_pred = np.where(rng.random(300) < 0.9, labels, 1 - labels)
    cmp_pred = np.where(rng.random(300) < 0.8, labels, 1 - labels)

    def macro_recall(pred: np.ndarray, idx: np.ndarray) -> float:
        return float(np.mean([np.mean(pred[idx][labels[idx] == k] == k) for k in (0, 1)]))

    interval = paired_bootstrap_interval(lambda i: macro_recall(src_pred, i) - macro_recall(cmp_pred, i), 300,
                                         n_resamples=400)
    assert 0.0 < interval.low < 0.1 < interval.high < 0.2


def test_bootstrap_coverage_in_seeded_simulation() -> None:
    rng = np.random.default_rng(11)
    n, reps, true_drop = 150, 200, 0.05
    covered = miss_low = miss_high = 0
    for rep in range(reps):
        source = rng.uniform(0.2, 1.0, n)
        compressed = source - true_drop + 0.15 * rng.standard_normal(n)  # expected drop: exactly true_drop
        interval = paired_bootstrap_interval(_mean_drop(source, compressed), n, n_resamples=400, seed=rep)
        covered += interval.low <= true_drop <= interval.high
        miss_low += interval.low > true_drop
        miss_high += interval.high < true_drop
    assert 0.83 <= covered / reps <= 0.97  # nominal 2 x 0.95 - 1 = 0.90
    assert miss_low / reps <= 0.10 and miss_high / reps <= 0.10  # nominal 5% each


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be an integer >= 1, got 0"),
        ({"n": 2.5}, "got 2.5"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"confidence": 1.0}, r"confidence must be in \(0, 1\), got 1.0"),
        ({"confidence": 0}, "got 0"),
        ({"seed": 1.5}, "seed must be an integer, got 1.5"),
    ],
)
def test_bootstrap_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"n": 10, **kwargs}
    n = args.pop("n")
    with pytest.raises(ValueError, match=match):
        paired_bootstrap_interval(lambda idx: 0.0, n, **args)


def test_bootstrap_rejects_non_finite_drops() -> None:
    with pytest.raises(ValueError, match="non-finite drop nan"):
        paired_bootstrap_interval(lambda idx: float("nan"), 10, n_resamples=5)


def test_bootstrap_p_value_from_resampled_drops():
    import numpy as np

    from pytest_compressgate.stats import bootstrap_p_value

    assert bootstrap_p_value(np.array([0.1, 0.2, 0.3, 0.4])) == 0.0  # every resample worse: no doubt
    assert bootstrap_p_value(np.array([-0.1, 0.1, 0.2, 0.3])) == 0.5  # one of four at or below zero
    assert bootstrap_p_value(np.array([-0.2, -0.1, 0.1, 0.2])) == 1.0
