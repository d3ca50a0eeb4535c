"""Early stopping: whole batches in each chunk, one budget, the drop inside the interval, the design's error."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_compressgate.config import Thresholds
from pytest_compressgate.early_stop import chunk_plan, compare_early_stop, run_early_stop
from pytest_compressgate.stats import DecisionMode
from pytest_compressgate.tasks import TASK_TYPES, Examples, Predictions
from pytest_compressgate.tasks.metrics import METRICS

CLS = TASK_TYPES.get("text-classification")


@pytest.mark.parametrize(("n", "batch"), [(1000, 32), (640, 32), (101, 8), (50, 64)])
def test_chunks_are_whole_full_run_batches(n: int, batch: int) -> None:
    chunks = chunk_plan(n, seed=3, batch_size=batch)
    assert sorted(np.concatenate(chunks).tolist()) == list(range(n))
    for chunk in chunks:
        # scoring the chunk in batches of `batch` must give exactly the full run's batches
        for start in range(0, len(chunk), batch):
            part = chunk[start:start + batch]
            assert part[0] % batch == 0 and np.all(np.diff(part) == 1), part
            assert len(part) == batch or part[-1] == n - 1
    assert len(chunks) <= 10


def _rows(n: int, *, flips_against: int, flips_for: int, seed: int = 0) -> tuple[list, list, list]:
    rng = np.random.default_rng(seed)
    refs = [str(x) for x in rng.integers(0, 3, n)]
    source = list(refs)
    compressed = list(refs)
    idx = rng.permutation(n)
    for i in idx[:flips_against]:
        compressed[i] = str((int(refs[i]) + 1) % 3)  # source right, compressed wrong
    for i in idx[flips_against:flips_against + flips_for]:
        source[i] = str((int(refs[i]) + 1) % 3)  # the reverse
    return refs, source, compressed


def _early(refs, source, compressed, **thresholds):
    calls = []

    def predict(chunk: np.ndarray) -> Predictions:
        calls.append(chunk)
        return Predictions([compressed[i] for i in chunk])

    comparison = compare_early_stop(
        predict=predict, batch_size=32, task_name="t", target="x", task_type=CLS, metric=METRICS.get("accuracy"),
        examples=Examples(["t"] * len(refs), refs), source=Predictions(source), seed=0,
        thresholds=Thresholds(**thresholds))
    return comparison, calls


def test_a_clear_failure_stops_early_and_reports_its_drop_inside_its_interval() -> None:
    refs, source, compressed = _rows(2000, flips_against=200, flips_for=0)
    c, calls = _early(refs, source, compressed, max_drop=0.01, decision=DecisionMode.CONFIDENT_PASS)
    assert c.outcome == "FAIL" and not c.passed and c.examples_used < 1000 and c.n == 2000
    assert c.interval.method.startswith("repeated CI, look ")
    assert c.interval.low <= c.drop <= c.interval.high
    assert c.p_test == "McNemar"
    assert sum(len(x) for x in {tuple(x) for x in calls}) == c.examples_used  # each chunk scored once


def test_relative_threshold_uses_the_full_source_score_to_stop_and_decide() -> None:
    refs, source, compressed = _rows(1000, flips_against=5, flips_for=0)
    source = [("9" if i < 300 else s) for i, s in enumerate(source)]  # source right on 70% of all examples
    c, _ = _early(refs, source, compressed, max_relative_drop=0.05, decision=DecisionMode.CONFIDENT_PASS)
    full_source = sum(s == r for s, r in zip(source, refs)) / len(refs)
    assert c.allowed_drop == pytest.approx(0.05 * full_source)


def test_the_design_keeps_its_error_at_the_boundary() -> None:
    # true drop = allowed drop: over many seeded runs, passes (and failures) stay near or below 5%
    rng = np.random.default_rng(1)
    n, allowed, passes, fails = 600, 0.02, 0, 0
    for run in range(150):
        p = rng.random(n)
        diffs = np.where(p < 0.05 + allowed / 2, 1.0, 0.0) - np.where(p > 1 - (0.05 - allowed / 2), 1.0, 0.0)
        stop = run_early_stop(n=n, differences=lambda idx, d=diffs: d[idx], allowed_drop=allowed,
                              confidence=0.95, seed=run, binary=True)
        passes += stop.interval.high <= allowed
        fails += stop.interval.low > allowed
    assert passes / 150 <= 0.09 and fails / 150 <= 0.09
