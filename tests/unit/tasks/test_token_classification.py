from __future__ import annotations

import json

import pytest

from compressors.errors import ConfigError
from pytest_compressgate.tasks import METRICS, TASK_TYPES, Examples, LoadedModel, Predictions
from pytest_compressgate.tasks.token_classification import TokenClassificationOptions, word_tags
from tests.tinymodels import write_jsonl

from .tiny_task_models import FakeTokenModel, bert_tokenizer

TASK = TASK_TYPES.get("token-classification")
GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]


def _examples(refs=GOLD):
    return Examples(inputs=[["w"] * len(r) for r in refs], references=refs)


def test_entity_f1_on_a_known_bio_example_matches_seqeval():
    from seqeval.metrics import f1_score

    # gold PER(0-1) LOC(3) | ORG(0); predicted PER(0-1) ORG(3) | ORG(0): 2 of 3 right each way
    metric = METRICS.get("entity_f1")
    assert TASK.score(metric, Predictions(PRED), _examples()) == pytest.approx(2 / 3)
    assert TASK.score(metric, Predictions(PRED), _examples()) == pytest.approx(f1_score(GOLD, PRED))
    assert metric.per_example is None and metric.higher_is_better and not metric.binary
    assert TASK.per_example(metric, Predictions(PRED), _examples()) is None


def test_score_with_index_recomputes_corpus_f1_on_the_resample():
    metric = METRICS.get("entity_f1")
    assert TASK.score(metric, Predictions(PRED), _examples(), index=[1, 1]) == 1.0
    assert TASK.score(metric, Predictions(PRED), _examples(), index=[0]) == pytest.approx(0.5)
    stored = Predictions(PRED, extra={"entity_counts": [[1, 2, 2], [1, 1, 1]]})  # what predict keeps
    assert TASK.score(metric, stored, _examples(), index=[0, 0, 1]) == pytest.approx(2 * 3 / (5 + 5))


def test_each_word_takes_its_first_subtoken_tag_and_truncated_words_are_o():
    names = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC"}
    # [CLS] w0 w1 w1' [SEP]; word 2 was truncated away
    assert word_tags([None, 0, 1, 1, None], [0, 1, 3, 2, 0], 3, names) == ["B-PER", "B-LOC", "O"]


def test_predict_aligns_words_to_first_subtokens(tmp_path):
    tokenizer = bert_tokenizer(tmp_path / "tok")
    assert tokenizer.tokenize("yorker") == ["york", "##er"]
    fake = FakeTokenModel(tokenizer, {"john": "B-PER", "smith": "I-PER", "york": "B-LOC", "##er": "I-ORG"})
    model = LoadedModel(fake, tokenizer, "source")
    words = ["John", "Smith", "lives", "in", "yorker"]
    examples = Examples(inputs=[words], references=[["B-PER", "I-PER", "O", "O", "B-LOC"]])
    predictions = TASK.predict(model, examples, TokenClassificationOptions(), batch_size=4)
    assert predictions.values == [["B-PER", "I-PER", "O", "O", "B-LOC"]]
    assert TASK.score(METRICS.get("entity_f1"), predictions, examples) == 1.0

    short = TASK.predict(model, examples, TokenClassificationOptions(max_length=4), batch_size=4)
    assert short.values == [["B-PER", "I-PER", "O", "O", "O"]]  # [CLS] john smith [SEP]
    assert short.extra["untagged_words"] == 3


def test_load_and_predict_with_a_real_model(tmp_path, ner_model):
    rows = [{"tokens": ["john", "smith", "works", "at", "acme", "corp"],
             "ner_tags": ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG"]},
            {"tokens": ["mary", "lives", "in", "london"], "ner_tags": ["B-PER", "O", "O", "B-LOC"]},
            {"tokens": ["the", "cat", "sat"], "ner_tags": ["O", "O", "O"]}]
    data = write_jsonl(tmp_path / "ner.jsonl", rows)
    examples = TASK.load(str(data), TokenClassificationOptions(), split="train", max_examples=None, where="tasks.ner")
    assert examples.inputs[1] == ["mary", "lives", "in", "london"]
    predictions = TASK.predict(ner_model, examples, TokenClassificationOptions(), batch_size=2)
    assert [len(p) for p in predictions.values] == [6, 4, 3]
    assert predictions.nonfinite == 0
    again = Predictions.from_json(json.loads(json.dumps(predictions.to_json())))
    metric = TASK.metric("entity_f1")
    assert TASK.score(metric, again, examples) == pytest.approx(TASK.score(metric, Predictions(again.values), examples))
    assert 0.0 <= TASK.score(metric, again, examples) <= 1.0


def test_tagging_everything_o_is_a_collapse(tmp_path):
    tokenizer = bert_tokenizer(tmp_path / "tok")
    model = LoadedModel(FakeTokenModel(tokenizer, {}), tokenizer, "int8")
    refs = [["B-PER", "I-PER", "O"]] * 6
    examples = Examples(inputs=[["john", "smith", "lives"]] * 6, references=refs)
    predictions = TASK.predict(model, examples, TokenClassificationOptions(), batch_size=4)
    assert TASK.score(TASK.metric("entity_f1"), predictions, examples) == 0.0
    message = TASK.collapse(predictions, examples)
    assert "every word 'O' in all 6 examples" in message and "12 words" in message
    assert TASK.collapse(Predictions(PRED, nonfinite=2), _examples()) == "2 of 2 examples gave NaN or infinite outputs"
    assert TASK.collapse(Predictions(PRED), _examples()) is None


def test_bad_column_names_the_column_and_lists_the_data_columns(tmp_path):
    data = write_jsonl(tmp_path / "ner.jsonl", [{"tokens": ["a"], "ner_tags": ["O"]}])
    with pytest.raises(ConfigError, match=r"tasks\.ner\.tokens_column = 'words'.*columns: tokens, ner_tags"):
        TASK.load(str(data), TokenClassificationOptions(tokens_column="words"), split="train", max_examples=None,
                  where="tasks.ner")


def test_integer_tags_and_mismatched_lengths_are_config_errors(tmp_path):
    ints = write_jsonl(tmp_path / "ints.jsonl", [{"tokens": ["a"], "ner_tags": [0]}])
    with pytest.raises(ConfigError, match="not a list of tag strings"):
        TASK.load(str(ints), TokenClassificationOptions(), split="train", max_examples=None, where="t")
    short = write_jsonl(tmp_path / "short.jsonl", [{"tokens": ["a", "b"], "ner_tags": ["O"]}])
    with pytest.raises(ConfigError, match="row 0 has 2 words but 1 tags"):
        TASK.load(str(short), TokenClassificationOptions(), split="train", max_examples=None, where="t")


def test_tags_the_model_does_not_know_are_refused(tmp_path):
    tokenizer = bert_tokenizer(tmp_path / "tok")
    model = LoadedModel(FakeTokenModel(tokenizer, {}), tokenizer, "source")
    examples = Examples(inputs=[["john"]], references=[["B-MISC"]])
    with pytest.raises(ValueError, match=r"\['B-MISC'\].*not among the model's labels"):
        TASK.predict(model, examples, TokenClassificationOptions(), batch_size=1)
