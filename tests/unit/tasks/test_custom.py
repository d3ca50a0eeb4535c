from __future__ import annotations

import math

import pytest

from compressors.errors import ConfigError
from compressors.typed import from_mapping
from pytest_compressgate.tasks import METRICS, TASK_TYPES, Examples, LoadedModel, Predictions
from pytest_compressgate.tasks.custom import (
    CustomOptions, register_predictor, register_scorer, register_setup, resolve_scorer,
)
from tests.tinymodels import write_jsonl

TASK = TASK_TYPES.get("custom")
MODEL = LoadedModel(model=None, tokenizer=None, label="source")
ROWS = [{"prompt": "p1", "expected": "a"}, {"prompt": "p2", "expected": "b"}, {"prompt": "p3", "expected": "c"}]
CALLS: list[int] = []


@register_scorer("tests-echo-match")
def echo_match(model, examples):
    """1 where the prompt's number is odd: a stand-in for "the output matches the expectation"."""
    CALLS.append(len(examples))
    return [float(int(x["prompt"][1:]) % 2) for x in examples.inputs]


@register_scorer("tests-length")
def length(model, examples):
    return [len(x["prompt"]) + len(ref) / 10 for x, ref in zip(examples.inputs, examples.references)]


def _load(tmp_path, **options):
    data = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    return TASK.load(str(data), CustomOptions(**options), split="train", max_examples=None, where="tasks.mine")


def test_a_registered_scorer_gives_per_example_scores_in_batches(tmp_path):
    options = CustomOptions(scorer="tests-echo-match", input_columns=("prompt",))
    examples = _load(tmp_path, scorer="tests-echo-match", input_columns=("prompt",))
    assert examples.inputs == [{"prompt": "p1"}, {"prompt": "p2"}, {"prompt": "p3"}]
    CALLS.clear()
    predictions = TASK.predict(MODEL, examples, options, batch_size=2)
    assert CALLS == [2, 1] and predictions.values == [1.0, 0.0, 1.0]
    mean, passes = TASK.metric("mean_score"), TASK.metric("pass_rate")
    assert not mean.binary and not mean.bounded and passes.binary and passes.higher_is_better
    assert TASK.score(mean, predictions, examples) == pytest.approx(2 / 3)
    assert TASK.score(passes, predictions, examples, index=[0, 2, 2]) == 1.0
    assert list(TASK.per_example(passes, predictions, examples)) == [1.0, 0.0, 1.0]


def test_references_reach_the_scorer_and_pass_rate_refuses_other_numbers(tmp_path):
    options = dict(scorer="tests-length", input_columns=("prompt",), reference_column="expected")
    examples = _load(tmp_path, **options)
    predictions = TASK.predict(MODEL, examples, CustomOptions(**options), batch_size=8)
    assert predictions.values == pytest.approx([2.1, 2.1, 2.1])
    assert TASK.score(TASK.metric("mean_score"), predictions, examples) == pytest.approx(2.1)
    with pytest.raises(ValueError, match="pass_rate needs scores of 0 or 1; example 0 scored 2.1"):
        TASK.score(TASK.metric("pass_rate"), predictions, examples)


def test_module_function_form_is_imported(tmp_path, monkeypatch):
    (tmp_path / "my_team_scorers.py").write_text("def always_one(model, examples):\n    return [1] * len(examples)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    scorer = resolve_scorer("my_team_scorers:always_one", "tasks.mine.scorer")
    assert scorer(MODEL, Examples([{}, {}], [None, None])) == [1, 1]
    with pytest.raises(ConfigError, match="has no attribute 'nope'"):
        resolve_scorer("my_team_scorers:nope", "tasks.mine.scorer")
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_xyz'"):
        resolve_scorer("no_such_module_xyz:f", "tasks.mine.scorer")


def test_unknown_scorer_names_get_did_you_mean(tmp_path):
    did_you_mean = r"tasks\.mine\.scorer = 'tests-echo-match2'.*Did you mean 'tests-echo-match'"
    with pytest.raises(ConfigError, match=did_you_mean):
        _load(tmp_path, scorer="tests-echo-match2", input_columns=("prompt",))
    with pytest.raises(ValueError, match="already registered"):
        register_scorer("tests-echo-match")(echo_match)


def test_options_come_from_the_config_table():
    options = from_mapping(CustomOptions, {"scorer": "tests-length", "input_columns": ["prompt"]}, "tasks.mine")
    assert options.input_columns == ("prompt",)
    with pytest.raises(ConfigError, match=r"tasks\.mine: set exactly one of scorer .* and predictor"):
        from_mapping(CustomOptions, {}, "tasks.mine")
    with pytest.raises(ConfigError, match=r"tasks\.mine: set exactly one of scorer"):
        from_mapping(CustomOptions, {"scorer": "a", "predictor": "b"}, "tasks.mine")
    options = from_mapping(CustomOptions, {"predictor": "p", "files": {"train": "t.jsonl"}, "params": {"C": 0.5}},
                           "tasks.mine")
    assert options.files == {"train": "t.jsonl"} and options.params == {"C": 0.5}


def test_bad_input_column_names_the_column(tmp_path):
    with pytest.raises(ConfigError, match=r"tasks\.mine\.input_columns\[1\] = 'context'.*columns: prompt, expected"):
        _load(tmp_path, scorer="tests-length", input_columns=("prompt", "context"))


def test_wrong_score_counts_and_nan_scores():
    examples = Examples([{"text": "a"}, {"text": "b"}], [None, None])
    register_scorer("tests-one-score")(lambda model, ex: [1.0])
    with pytest.raises(ValueError, match="returned 1 outputs for 2 examples"):
        TASK.predict(MODEL, examples, CustomOptions(scorer="tests-one-score"), batch_size=4)
    register_scorer("tests-nan")(lambda model, ex: [math.nan, 1.0])
    predictions = TASK.predict(MODEL, examples, CustomOptions(scorer="tests-nan"), batch_size=4)
    assert predictions.nonfinite == 1
    assert TASK.score(METRICS.get("pass_rate"), predictions, examples) == 0.5  # NaN counts as a fail
    assert TASK.collapse(predictions, examples) == "1 of 2 examples gave NaN or infinite outputs"
    assert TASK.collapse(Predictions([1.0, 1.0]), examples) is None


@register_predictor("tests-first-letter")
def first_letter(model, examples):
    return [x["prompt"][0] if x["prompt"] != "p3" else "q" for x in examples.inputs]


def test_predictions_are_compared_with_references_by_any_registered_metric(tmp_path):
    options = CustomOptions(predictor="tests-first-letter", input_columns=("prompt",), reference_column="expected")
    examples = Examples([{"prompt": p} for p in ("p1", "p2", "p3", "p4")], ["p", "p", "q", "r"])
    predictions = TASK.predict(MODEL, examples, options, batch_size=3)
    assert predictions.values == ["p", "p", "q", "p"]
    assert TASK.score(METRICS.get("accuracy"), predictions, examples) == 0.75
    assert TASK.per_example(METRICS.get("accuracy"), predictions, examples).tolist() == [1.0, 1.0, 1.0, 0.0]
    assert TASK.per_example(METRICS.get("macro_f1"), predictions, examples) is None  # corpus-level
    # p: precision 2/3, recall 1 -> 0.8; q: 1.0; r: 0.0 -> mean 0.6 (scikit-learn's macro average)
    assert TASK.score(METRICS.get("macro_f1"), predictions, examples) == pytest.approx(0.6)
    assert TASK.score(METRICS.get("macro_f1"), predictions, examples, index=[0, 2]) == pytest.approx(1.0)
    register_predictor("tests-dict")(lambda model, ex: [{"a": 1}] * len(ex))
    with pytest.raises(ValueError, match=r"predictor 'tests-dict' returned \{'a': 1\} \(dict\) for example 0"):
        TASK.predict(MODEL, examples, CustomOptions(predictor="tests-dict", reference_column="x"), batch_size=2)


def test_one_class_for_everything_is_a_collapse():
    examples = Examples([{}] * 12, ["a", "b"] * 6)
    assert TASK.collapse(Predictions(["a"] * 12), examples) == "the model predicts one class ('a') for all 12 examples"
    assert TASK.collapse(Predictions(["a", "b"] * 6), examples) is None


def test_a_setup_runs_once_per_session_and_its_state_reaches_the_predictor(tmp_path):
    from pytest_compressgate.tasks.base import SourceAccess

    calls = []
    register_setup("tests-vocabulary")(lambda source, task: calls.append(task.params) or set(task.rows("known")[0]))
    register_predictor("tests-known")(lambda model, ex, known: [x["prompt"] in known for x in ex.inputs])
    known = write_jsonl(tmp_path / "known.jsonl", [{"p1": 1, "p3": 1}])
    options = CustomOptions(predictor="tests-known", setup="tests-vocabulary", input_columns=("prompt",),
                            reference_column="expected", files={"known": str(known)}, params={"k": 1})
    access = SourceAccess(lambda: MODEL)
    prepared = [TASK.prepare(options, access) for _ in range(2)]
    assert calls == [{"k": 1}] and prepared[0].state == {"p1", "p3"}
    examples = Examples([{"prompt": p} for p in ("p1", "p2", "p3")], [True, True, True])
    assert TASK.predict(MODEL, examples, prepared[1], batch_size=2).values == [True, False, True]
    with pytest.raises(ValueError, match="setup 'tests-vocabulary' has not run"):
        TASK.predict(MODEL, examples, options, batch_size=2)


def test_timing_texts_are_the_first_text_column_or_the_reason_is_given():
    examples = Examples([{"n": 3, "prompt": "hello"}], [None])
    assert TASK.timing_texts(examples, CustomOptions(scorer="s", input_columns=("n", "prompt"))) == ["hello"]
    numbers = CustomOptions(scorer="s", input_columns=("n",))
    assert TASK.timing_texts(examples, numbers) == []
    assert "none of input_columns (n) holds text" in TASK.no_timing_reason(numbers)


@pytest.mark.parametrize("keys, message", [
    ('scorer = "tests-length"\nmetric = "accuracy"', r"tasks\.mine\.metric = 'accuracy' compares predictions"),
    ('predictor = "tests-first-letter"\nreference_column = "expected"\nmetric = "pass_rate"',
     r"tasks\.mine\.metric = 'pass_rate' averages scores"),
    ('predictor = "tests-first-letter"\nmetric = "macro_f1"', r"tasks\.mine\.reference_column is required"),
    ('predictor = "tests-first-letter"\nreference_column = "expected"\nmetric = "macro_f2"',
     r"unknown metric 'macro_f2'.*Did you mean 'macro_f1'"),
])
def test_metric_and_function_mismatches_fail_when_the_config_loads(tmp_path, keys, message):
    from pytest_compressgate.config import load_config

    (tmp_path / "compressgate.toml").write_text(
        'source = { model = "m" }\n[targets.t]\nhardware = "cpu"\nrecipe = [{ method = "torch-dynamic-int8" }]\n'
        f'[tasks.mine]\ntype = "custom"\ndata = "d.jsonl"\n{keys}\n')
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "compressgate.toml")
