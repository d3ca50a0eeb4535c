from __future__ import annotations

import copy
import math

import pytest

from compressors.errors import ConfigError
from compressors.typed import from_mapping
from pytest_compressgate.tasks import METRICS, TASK_TYPES, Examples, LoadedModel, Predictions
from pytest_compressgate.tasks.perplexity import PerplexityOptions, per_example_nll, windows
from tests.tinymodels import write_jsonl

TASK = TASK_TYPES.get("perplexity")
TEXTS = ["john lives in paris and mary lives in london", "the cat sat on the mat", "red car"]
HAND = Predictions([{"nll": 2.0, "tokens": 2}, {"nll": 4.0, "tokens": 2}, {"nll": 0.0, "tokens": 0}])
HAND_EXAMPLES = Examples(inputs=["a", "b", "c"], references=[None] * 3)


def test_perplexity_is_exp_of_the_token_weighted_mean_nll():
    metric = METRICS.get("perplexity")
    assert not metric.higher_is_better and metric.per_example is None and not metric.bounded
    assert TASK.score(metric, HAND, HAND_EXAMPLES) == pytest.approx(math.exp(6 / 4))
    assert TASK.score(metric, HAND, HAND_EXAMPLES, index=[0, 0, 2]) == pytest.approx(math.exp(1.0))
    assert TASK.score(metric, HAND, HAND_EXAMPLES, index=[1]) == pytest.approx(math.exp(2.0))
    assert math.isnan(TASK.score(metric, HAND, HAND_EXAMPLES, index=[2]))
    assert TASK.per_example(metric, HAND, HAND_EXAMPLES) is None
    assert list(per_example_nll(HAND)[:2]) == [1.0, 2.0]
    assert TASK.score(metric, Predictions([{"nll": 1e6, "tokens": 1}]), HAND_EXAMPLES) == math.inf


def test_windows_score_every_token_but_the_first_once():
    ids = list(range(10))
    assert windows(ids, 4, 2) == [([0, 1, 2, 3], 3), ([2, 3, 4, 5], 2), ([4, 5, 6, 7], 2), ([6, 7, 8, 9], 2)]
    assert windows(ids, 16, 8) == [(ids, 9)]
    assert windows([], 4, 2) == [] and windows([7], 4, 2) == []
    for max_length, stride in [(4, 1), (4, 3), (5, 2), (9, 4)]:
        assert sum(n for _, n in windows(list(range(23)), max_length, stride)) == 22


def test_a_text_in_one_window_matches_the_models_own_loss(gpt2):
    import torch

    predictions = TASK.predict(gpt2, Examples(TEXTS[:1], [None]), PerplexityOptions(max_length=32, stride=16),
                               batch_size=4)
    ids = gpt2.tokenizer(TEXTS[0], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        loss = gpt2.model(input_ids=ids, labels=ids).loss
    (value,) = predictions.values
    assert value["tokens"] == ids.shape[1] - 1
    assert value["nll"] / value["tokens"] == pytest.approx(float(loss), rel=1e-5)


def test_sliding_windows_and_batching_keep_the_token_count_and_stay_consistent(tmp_path, gpt2):
    data = write_jsonl(tmp_path / "text.jsonl", [{"body": t} for t in TEXTS])
    examples = TASK.load(str(data), PerplexityOptions(text_column="body"), split="train", max_examples=None,
                         where="tasks.ppl")
    wide = TASK.predict(gpt2, examples, PerplexityOptions(max_length=64, stride=32), batch_size=8)
    narrow = TASK.predict(gpt2, examples, PerplexityOptions(max_length=4, stride=2), batch_size=3)
    narrow_one = TASK.predict(gpt2, examples, PerplexityOptions(max_length=4, stride=2), batch_size=1)
    assert [v["tokens"] for v in wide.values] == [v["tokens"] for v in narrow.values] == [8, 5, 1]
    assert [v["nll"] for v in narrow.values] == pytest.approx([v["nll"] for v in narrow_one.values], rel=1e-5)
    assert wide.values[2]["nll"] == pytest.approx(narrow.values[2]["nll"], rel=1e-5)  # short text: same context
    assert TASK.score(TASK.metric("perplexity"), wide, examples) > 1.0


def test_options_and_model_limits_are_checked(gpt2):
    with pytest.raises(ConfigError, match=r"tasks\.ppl: stride = 64 is invalid: expected less than max_length"):
        from_mapping(PerplexityOptions, {"max_length": 64, "stride": 64}, "tasks.ppl")
    with pytest.raises(ValueError, match="max_length = 128 exceeds the model's 64 positions"):
        TASK.predict(gpt2, Examples(["a"], [None]), PerplexityOptions(max_length=128, stride=64), batch_size=1)


def test_nan_outputs_are_counted_and_reported(gpt2):
    import torch

    broken = copy.deepcopy(gpt2.model)
    with torch.no_grad():
        broken.lm_head.weight.fill_(float("nan"))  # tied to the input embeddings
    model = LoadedModel(broken, gpt2.tokenizer, "int8")
    examples = Examples(TEXTS, [None] * 3)
    predictions = TASK.predict(model, examples, PerplexityOptions(max_length=32, stride=16), batch_size=2)
    assert predictions.nonfinite == 3
    assert TASK.collapse(predictions, examples) == "3 of 3 examples gave NaN or infinite outputs"


def test_bad_column_names_the_column(tmp_path):
    data = write_jsonl(tmp_path / "text.jsonl", [{"body": "a b"}])
    with pytest.raises(ConfigError, match=r"tasks\.ppl\.text_column = 'text'.*columns: body"):
        TASK.load(str(data), PerplexityOptions(), split="train", max_examples=None, where="tasks.ppl")


def test_the_paired_bootstrap_recomputes_corpus_perplexity():
    pytest.importorskip("pytest_compressgate.stats")
    from pytest_compressgate.config.schema import Thresholds
    from pytest_compressgate.verdict import compare

    n = 30
    examples = Examples(inputs=["t"] * n, references=[None] * n)
    source = Predictions([{"nll": 2.0 * (1 + i % 3), "tokens": 1 + i % 3} for i in range(n)])  # mean NLL 2
    compressed = Predictions([{"nll": 2.2 * (1 + i % 3), "tokens": 1 + i % 3} for i in range(n)])  # mean NLL 2.2
    result = compare(task_name="ppl", target="int8", task_type=TASK, metric=TASK.metric("perplexity"),
                     examples=examples, source=source, compressed=compressed, thresholds=Thresholds(max_drop=0.5))
    assert result.drop == pytest.approx(math.exp(2.2) - math.exp(2.0))  # positive: compressed is worse
    assert result.interval is not None and result.interval.low == pytest.approx(result.drop)
    assert not result.passed
