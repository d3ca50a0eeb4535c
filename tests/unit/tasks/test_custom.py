from __future__ import annotations

import math

import pytest

from compressors.errors import ConfigError
from compressors.typed import from_mapping
from pytest_compressgate.tasks import METRICS, TASK_TYPES, Examples, LoadedModel, Predictions
from pytest_compressgate.tasks.custom import CustomOptions, register_scorer, resolve_scorer
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
    with pytest.raises(ConfigError, match=r"tasks\.mine\.scorer is required"):
        from_mapping(CustomOptions, {}, "tasks.mine")


def test_bad_input_column_names_the_column(tmp_path):
    with pytest.raises(ConfigError, match=r"tasks\.mine\.input_columns\[1\] = 'context'.*columns: prompt, expected"):
        _load(tmp_path, scorer="tests-length", input_columns=("prompt", "context"))


def test_wrong_score_counts_and_nan_scores():
    examples = Examples([{"text": "a"}, {"text": "b"}], [None, None])
    register_scorer("tests-one-score")(lambda model, ex: [1.0])
    with pytest.raises(ValueError, match="returned 1 scores for 2 examples"):
        TASK.predict(MODEL, examples, CustomOptions(scorer="tests-one-score"), batch_size=4)
    register_scorer("tests-nan")(lambda model, ex: [math.nan, 1.0])
    predictions = TASK.predict(MODEL, examples, CustomOptions(scorer="tests-nan"), batch_size=4)
    assert predictions.nonfinite == 1
    assert TASK.score(METRICS.get("pass_rate"), predictions, examples) == 0.5  # NaN counts as a fail
    assert TASK.collapse(predictions, examples) == "1 of 2 examples gave NaN or infinite outputs"
    assert TASK.collapse(Predictions([1.0, 1.0]), examples) is None
