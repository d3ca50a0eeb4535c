"""The verdict: drop direction, thresholds, floors, collapse and the failure message's numbers."""

from __future__ import annotations

import pytest

from pytest_compressgate.config import Thresholds
from pytest_compressgate.stats import DecisionMode
from pytest_compressgate.tasks import TASK_TYPES, Examples, Predictions
from pytest_compressgate.tasks.metrics import METRICS
from pytest_compressgate.verdict import compare

CLS = TASK_TYPES.get("text-classification")
REFS = ["a", "b", "c", "a", "b"] * 40  # n = 200


def run(compressed: list, *, source: list | None = None, metric: str = "accuracy", **thresholds):
    return compare(task_name="intent", target="cpu-int8", task_type=CLS, metric=METRICS.get(metric),
                   examples=Examples(inputs=["t"] * len(REFS), references=REFS),
                   source=Predictions(list(source or REFS)), compressed=Predictions(compressed),
                   thresholds=Thresholds(**thresholds))


def with_errors(k: int) -> list:
    """The references with the first k predictions wrong."""
    wrong = {"a": "b", "b": "c", "c": "a"}
    return [wrong[r] if i < k else r for i, r in enumerate(REFS)]


def test_pass_within_allowed_drop() -> None:
    c = run(with_errors(2), max_drop=0.02)
    assert c.passed and c.drop == pytest.approx(0.01) and c.source_score == 1.0 and c.n == 200
    assert c.p_value is not None and c.interval is not None and c.interval.low <= c.drop <= c.interval.high


def test_fail_beyond_allowed_drop_names_the_numbers() -> None:
    c = run(with_errors(10), max_drop=0.02)
    assert not c.passed
    message = c.message()
    for text in ("intent[cpu-int8]", "accuracy source 1.0000 -> compressed 0.9500", "drop +0.0500",
                 "allowed drop 0.0200", "n=200", "McNemar p=", "CI [", "next:"):
        assert text in message, text


def test_relative_drop_uses_the_source_score() -> None:
    c = run(with_errors(3), max_relative_drop=0.01)  # allowed 0.01 * 1.0; drop 0.015
    assert not c.passed and c.allowed_drop == pytest.approx(0.01)


def test_min_score_fails_whatever_the_drop() -> None:
    source = with_errors(60)  # source accuracy 0.70
    c = run(source, source=source, max_drop=0.1, min_score=0.8)
    assert c.drop == 0 and not c.passed
    assert any("below the floor min_score = 0.8" in f for f in c.failures)


def test_one_class_for_everything_is_a_collapse() -> None:
    c = run(["a"] * len(REFS), max_drop=1.0)
    assert not c.passed
    assert any("silent collapse: the model predicts one class ('a') for all 200 examples" in f for f in c.failures)


def test_nonfinite_outputs_are_a_collapse() -> None:
    c = compare(task_name="t", target="x", task_type=CLS, metric=METRICS.get("accuracy"),
                examples=Examples(["t"] * len(REFS), REFS), source=Predictions(list(REFS)),
                compressed=Predictions(list(REFS), nonfinite=7), thresholds=Thresholds(max_drop=0.5))
    assert not c.passed and any("7 of 200 examples gave NaN" in f for f in c.failures)


def test_confident_pass_is_stricter_than_estimate() -> None:
    errors = with_errors(3)  # drop 0.015 with a wide interval at n = 200
    assert run(errors, max_drop=0.02).passed
    strict = run(errors, max_drop=0.02, decision=DecisionMode.CONFIDENT_PASS)
    assert not strict.passed and "upper" in strict.failures[0]


def test_confident_fail_gives_the_benefit_of_the_doubt() -> None:
    errors = with_errors(6)  # drop 0.03 beyond 0.02, but not surely
    assert not run(errors, max_drop=0.02).passed
    assert run(errors, max_drop=0.02, decision=DecisionMode.CONFIDENT_FAIL).passed


def test_corpus_metric_gets_a_bootstrap_interval() -> None:
    c = run(with_errors(8), metric="macro_f1", max_drop=0.1)
    assert c.interval.method == "bootstrap-t + percentile" and c.p_test == "bootstrap" and 0 <= c.p_value <= 1
    assert c.interval.low <= c.drop <= c.interval.high


def test_small_n_is_warned() -> None:
    c = compare(task_name="t", target="x", task_type=CLS, metric=METRICS.get("accuracy"),
                examples=Examples(["t"] * 20, REFS[:20]), source=Predictions(REFS[:20]),
                compressed=Predictions(REFS[:20]), thresholds=Thresholds(max_drop=0.01))
    assert any("n=20 examples cannot resolve an allowed drop of 0.010" in w for w in c.warnings)


def test_unpaired_predictions_are_refused() -> None:
    with pytest.raises(ValueError, match="must be paired"):
        run(REFS[:-1], max_drop=0.1)


def test_holm_adjusts_p_values_per_target() -> None:
    from pytest_compressgate.report.rows import adjust_holm, row
    from pytest_compressgate.result import GateResult

    def result(task: str, target: str, p: float) -> GateResult:
        return GateResult(task=task, target=target, metric="accuracy", higher_is_better=True, n=10, source_score=1.0,
                          compressed_score=0.9, drop=0.1, allowed_drop=0.2, min_score=None, decision="estimate",
                          p_value=p)

    rows = [result("a", "x", 0.01), result("b", "x", 0.04), result("c", "y", 0.04)]
    adjust_holm(rows)
    assert [r.p_value_holm for r in rows] == [pytest.approx(0.02), pytest.approx(0.04), pytest.approx(0.04)]
    assert row(rows[0])["p"] == "0.02 (Holm)"


def test_macro_f1_matches_scikit_learn() -> None:
    import random

    from sklearn.metrics import f1_score

    rng = random.Random(0)
    for _ in range(20):
        refs = [rng.choice("abcd") for _ in range(60)]
        preds = [rng.choice("abcde") for _ in range(60)]  # 'e' is never a reference
        expected = f1_score(refs, preds, labels=sorted(set(refs)), average="macro", zero_division=0)
        assert METRICS.get("macro_f1")(preds, refs) == pytest.approx(expected)


def _binary(n: int, source_right: int, compressed_right: int, **thresholds):
    """Source right on the first ``source_right`` examples, compressed on the first ``compressed_right``."""
    refs = ["a"] * n
    source = ["a" if i < source_right else "b" for i in range(n)]
    compressed = ["a" if i < compressed_right else "b" for i in range(n)]
    return compare(task_name="t", target="x", task_type=CLS, metric=METRICS.get("accuracy"),
                   examples=Examples(["t"] * n, refs), source=Predictions(source),
                   compressed=Predictions(compressed), thresholds=Thresholds(**thresholds))


def test_a_tied_table_passes_in_estimate_mode() -> None:
    c = _binary(1000, 900, 892, max_drop=0.008)  # float drop 0.008000000000000007
    assert c.drop > 0.008 and c.passed and c.outcome == "PASS"
    assert c.discordant == {"source_only": 8, "compressed_only": 0, "agreement": pytest.approx(0.992)}
    relative = _binary(1000, 900, 891, max_relative_drop=0.01)  # allowed 0.01 x 0.9 = 0.009 exactly
    assert relative.passed
    assert not _binary(1000, 900, 890, max_relative_drop=0.01).passed


@pytest.mark.parametrize("decision", [DecisionMode.CONFIDENT_PASS, DecisionMode.CONFIDENT_FAIL])
def test_one_example_gets_a_verdict_in_confident_modes(decision: DecisionMode) -> None:
    binary = _binary(1, 1, 1, max_drop=0.01, decision=decision)
    assert binary.outcome == "INCONCLUSIVE" and binary.interval is not None
    corpus = compare(task_name="t", target="x", task_type=CLS, metric=METRICS.get("macro_f1"),
                     examples=Examples(["t"], ["a"]), source=Predictions(["a"]), compressed=Predictions(["a"]),
                     thresholds=Thresholds(max_drop=0.01, decision=decision))
    assert corpus.outcome == "INCONCLUSIVE" and corpus.passed is (decision is DecisionMode.CONFIDENT_FAIL)
    assert any("too few examples: n=1" in w for w in corpus.warnings)


def test_inconclusive_policy_from_the_thresholds() -> None:
    errors = with_errors(6)  # drop 0.03 against 0.02: the interval straddles the budget
    strict = run(errors, max_drop=0.02, decision=DecisionMode.CONFIDENT_FAIL, inconclusive="fail")
    assert strict.outcome == "INCONCLUSIVE" and not strict.passed and strict.needed > 200
    assert strict.inconclusive == "fail" and "INCONCLUSIVE" in strict.failures[0]
    lenient = run(errors, max_drop=0.02, decision=DecisionMode.CONFIDENT_PASS, inconclusive="pass")
    assert lenient.passed and "INCONCLUSIVE" in lenient.warnings[0]


def test_holm_adjusts_verdicts_not_only_p_values() -> None:
    from pytest_compressgate.verdict import apply_holm

    # each passes alone at 95% (pass-side p about 0.03), none survives Holm over three tasks
    alone = [_binary(2000, 1900, 1897, max_drop=0.0045, decision=DecisionMode.CONFIDENT_PASS) for _ in range(3)]
    assert all(c.outcome == "PASS" for c in alone)
    assert all(0.01 < c.margin_p["pass"] < 0.05 for c in alone)
    apply_holm(alone, family_size=3)
    assert [c.outcome for c in alone] == ["INCONCLUSIVE"] * 3 and not any(c.passed for c in alone)
    assert "Holm over 3 task(s) of target 'x'" in alone[0].failures[0]
    clear = [_binary(2000, 1900, 1900, max_drop=0.0045, decision=DecisionMode.CONFIDENT_PASS) for _ in range(3)]
    apply_holm(clear, family_size=3)
    assert all(c.outcome == "PASS" and c.passed for c in clear)
