from __future__ import annotations

import json

import pytest

from compressors.errors import ConfigError
from compressors.typed import from_mapping
from pytest_compressgate.tasks import METRICS, TASK_TYPES, Examples, LoadedModel, Predictions
from pytest_compressgate.tasks.question_answering import QuestionAnsweringOptions, best_spans, gold_answers
from pytest_compressgate.tasks.text_metrics import normalize_answer, squad_exact, squad_f1
from tests.tinymodels import write_jsonl

from .tiny_task_models import FakeQAModel, bert_tokenizer

TASK = TASK_TYPES.get("question-answering")


def test_squad_normalization_exact_match_and_token_f1():
    assert normalize_answer("The  Cat, sat!  ") == "cat sat"
    assert squad_exact("Paris.", ["paris"]) == 1.0
    assert squad_exact("in Paris", ["Paris"]) == 0.0
    # pred {cat, sat}; gold {cat, sat, on, mat}: precision 1, recall 1/2
    assert squad_f1("cat sat", "the cat sat on the mat") == pytest.approx(2 / 3)
    assert squad_f1("cat sat", ["dog", "the cat sat"]) == 1.0  # best of several gold answers
    assert squad_f1("", [""]) == 1.0 and squad_f1("x", [""]) == 0.0


def test_metrics_are_per_example_and_exact_match_is_binary():
    examples = Examples(inputs=[("q", "c")] * 3, references=[["Paris"], ["the red car"], ["blue"]])
    predictions = Predictions(["paris", "red house", "green"])
    em, f1 = TASK.metric("exact_match"), TASK.metric("qa_f1")
    assert em.binary and em.per_example is not None and not f1.binary and f1.bounded
    assert list(TASK.per_example(em, predictions, examples)) == [1.0, 0.0, 0.0]
    assert list(TASK.per_example(f1, predictions, examples)) == pytest.approx([1.0, 0.5, 0.0])
    assert TASK.score(f1, predictions, examples) == pytest.approx(0.5)
    assert TASK.score(f1, predictions, examples, index=[1, 1, 0]) == pytest.approx(2 / 3)
    # the registry's plain exact_match is served in its SQuAD form by this task type
    assert TASK.score(METRICS.get("exact_match"), predictions, examples) == pytest.approx(1 / 3)


def test_best_span_respects_context_order_and_max_answer_length():
    import torch

    start = torch.tensor([[9.0, 1.0, 5.0, 2.0, 0.0]])  # position 0 is not context
    end = torch.tensor([[9.0, 0.0, 0.0, 0.0, 6.0]])
    mask = torch.tensor([[False, True, True, True, True]])
    score, s, e = best_spans(start, end, mask, max_answer_length=2)
    assert (float(score), int(s), int(e)) == (8.0, 3, 4)
    score, s, e = best_spans(start, end, mask, max_answer_length=3)
    assert (float(score), int(s), int(e)) == (11.0, 2, 4)


def test_answers_come_from_the_context_with_original_case(tmp_path):
    tokenizer = bert_tokenizer(tmp_path / "tok")
    model = LoadedModel(FakeQAModel(tokenizer, {"paris"}, {"paris"}), tokenizer, "source")
    examples = Examples(inputs=[("is paris where john lives ?", "John Smith lives in Paris.")], references=[["Paris"]])
    predictions = TASK.predict(model, examples, QuestionAnsweringOptions(), batch_size=2)
    assert predictions.values == ["Paris"]
    assert predictions.extra["per_example"] == {"exact_match": [1.0], "qa_f1": [1.0]}


def test_long_contexts_are_split_into_windows_and_the_best_one_wins(tmp_path):
    tokenizer = bert_tokenizer(tmp_path / "tok")
    model = LoadedModel(FakeQAModel(tokenizer, {"acme"}, {"corp"}), tokenizer, "source")
    context = " ".join(["the cat sat on the mat ."] * 8 + ["john works at Acme Corp ."])
    options = QuestionAnsweringOptions(max_length=24, doc_stride=8)
    enc = tokenizer("who ?", context, truncation="only_second", max_length=24, stride=8,
                    return_overflowing_tokens=True)
    assert len(enc["input_ids"]) > 3
    predictions = TASK.predict(model, Examples([("who ?", context)], [["Acme Corp"]]), options, batch_size=2)
    assert predictions.values == ["Acme Corp"]


def test_no_answer_wins_only_when_allowed(tmp_path):
    tokenizer = bert_tokenizer(tmp_path / "tok")
    model = LoadedModel(FakeQAModel(tokenizer, {"paris"}, {"paris"}, cls_score=20.0), tokenizer, "source")
    examples = Examples([("where ?", "John lives in Paris.")], [[]])
    assert TASK.predict(model, examples, QuestionAnsweringOptions(), batch_size=1).values == ["Paris"]
    allowed = TASK.predict(model, examples, QuestionAnsweringOptions(allow_no_answer=True), batch_size=1)
    assert allowed.values == [""] and allowed.extra["per_example"]["exact_match"] == [1.0]


def test_load_squad_dicts_or_plain_strings_and_predict_with_a_real_model(tmp_path, qa_model):
    rows = [{"question": "where does john live ?", "context": "John lives in Paris.",
             "answers": {"text": ["Paris"], "answer_start": [14]}, "answer": "Paris"},
            {"question": "who works at acme ?", "context": "Mary works at Acme Corp in London.",
             "answers": {"text": ["Mary"], "answer_start": [0]}, "answer": "Mary"}]
    data = str(write_jsonl(tmp_path / "qa.jsonl", rows))
    squad = TASK.load(data, QuestionAnsweringOptions(), split="train", max_examples=None, where="tasks.qa")
    plain = TASK.load(data, QuestionAnsweringOptions(answers_column="answer"), split="train", max_examples=None,
                      where="tasks.qa")
    assert squad.references == plain.references == [["Paris"], ["Mary"]]
    predictions = TASK.predict(qa_model, squad, QuestionAnsweringOptions(max_answer_length=4), batch_size=1)
    for answer, (_, context) in zip(predictions.values, squad.inputs):
        assert answer.lower() in context.lower() and answer
    assert predictions.nonfinite == 0
    again = Predictions.from_json(json.loads(json.dumps(predictions.to_json())))
    f1 = TASK.metric("qa_f1")
    assert TASK.score(f1, again, squad) == pytest.approx(TASK.score(f1, Predictions(again.values), squad))


def test_gold_answer_forms():
    assert gold_answers({"text": ["a", "b"], "answer_start": [0, 3]}) == ["a", "b"]
    assert gold_answers("a") == ["a"] and gold_answers(["a", "b"]) == ["a", "b"]
    assert gold_answers({"text": [], "answer_start": []}) == [] and gold_answers("") == []


def test_config_errors(tmp_path):
    data = str(write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "context": "c", "answers": ""}]))
    named = r"tasks\.qa\.context_column = 'passage'.*columns: question, context, answers"
    with pytest.raises(ConfigError, match=named):
        TASK.load(data, QuestionAnsweringOptions(context_column="passage"), split="train", max_examples=None,
                  where="tasks.qa")
    with pytest.raises(ConfigError, match=r"rows \[0\] have no answer; set allow_no_answer = true"):
        TASK.load(data, QuestionAnsweringOptions(), split="train", max_examples=None, where="tasks.qa")
    with pytest.raises(ConfigError, match="doc_stride = 400 is invalid"):
        from_mapping(QuestionAnsweringOptions, {"doc_stride": 400}, "tasks.qa")


def test_collapse_messages():
    examples = Examples(inputs=[("q", "c")] * 12, references=[[f"answer {i}"] for i in range(12)])
    empty = TASK.collapse(Predictions([""] * 12), examples)
    assert empty == "the model answers with an empty span for all 12 questions"
    assert "same answer ('Paris') to all 12" in TASK.collapse(Predictions(["Paris"] * 12), examples)
    assert TASK.collapse(Predictions([f"answer {i}" for i in range(12)]), examples) is None
    assert "NaN" in TASK.collapse(Predictions([""] * 12, nonfinite=12), examples)


def test_the_verdict_uses_exact_tests_for_exact_match():
    pytest.importorskip("pytest_compressgate.stats")
    from pytest_compressgate.config.schema import Thresholds
    from pytest_compressgate.verdict import compare

    examples = Examples(inputs=[("q", "c")] * 40, references=[["paris"]] * 40)
    source, compressed = Predictions(["Paris"] * 40), Predictions(["Paris"] * 30 + ["London"] * 10)
    result = compare(task_name="qa", target="int8", task_type=TASK, metric=TASK.metric("exact_match"),
                     examples=examples, source=source, compressed=compressed, thresholds=Thresholds(max_drop=0.05))
    assert result.drop == pytest.approx(0.25) and result.p_value is not None and not result.passed
