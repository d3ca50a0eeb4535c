from __future__ import annotations

import copy

import pytest

from compressors.errors import ConfigError
from compressors.typed import from_mapping
from pytest_compressgate.tasks import METRICS, TASK_TYPES, Examples, LoadedModel, Predictions
from pytest_compressgate.tasks.generation import GenerationOptions, SummarizationOptions, cut_at_stop
from pytest_compressgate.tasks.text_metrics import generation_exact, rouge_l
from tests.tinymodels import write_jsonl

GENERATION = TASK_TYPES.get("text-generation")
SUMMARIZATION = TASK_TYPES.get("summarization")
PROMPTS = ["john lives in", "the cat sat on the", "what is the capital of france ?"]


def test_rouge_l_on_two_strings():
    # LCS of "the cat sat on the mat" and "the cat on a mat" is "the cat on mat": P = 4/6, R = 4/5
    p, r = 4 / 6, 4 / 5
    assert rouge_l("the cat sat on the mat", "the cat on a mat") == pytest.approx(2 * p * r / (p + r))
    assert rouge_l("red car", ["blue house", "a red car"]) == pytest.approx(0.8)  # best reference
    metric = METRICS.get("rouge_l")
    assert metric.bounded and not metric.binary and metric.per_example is not None


def test_generation_exact_match_ignores_only_surrounding_and_repeated_whitespace():
    assert generation_exact("  Paris  is\nbig ", "Paris is big") == 1.0
    assert generation_exact("paris is big", "Paris is big") == 0.0
    assert generation_exact("b", ["a", "b"]) == 1.0
    assert cut_at_stop("answer\nmore text", ("\n", "###")) == "answer"


def test_types_defaults_and_metrics():
    assert (GENERATION.model_task, GENERATION.default_metric) == ("causal-lm", "exact_match")
    assert (SUMMARIZATION.model_task, SUMMARIZATION.default_metric) == ("summarization", "rouge_l")
    assert (SummarizationOptions().prompt_column, SummarizationOptions().reference_column) == ("document", "summary")
    assert GENERATION.metric("exact_match").binary
    with pytest.raises(ConfigError, match="empty string"):
        from_mapping(GenerationOptions, {"stop_sequences": [""]}, "tasks.gen")
    assert from_mapping(GenerationOptions, {"stop_sequences": ["\n"]}, "tasks.gen").stop_sequences == ("\n",)


def test_causal_lm_batched_generation_strips_the_prompt_and_matches_one_by_one(gpt2):
    import torch

    options = GenerationOptions(max_new_tokens=4)
    examples = Examples(inputs=PROMPTS, references=["paris"] * 3)
    batched = GENERATION.predict(gpt2, examples, options, batch_size=3)
    single = GENERATION.predict(gpt2, examples, options, batch_size=1)
    assert batched.values == single.values and batched.nonfinite == 0
    enc = gpt2.tokenizer(PROMPTS[0], return_tensors="pt", return_token_type_ids=False)
    with torch.inference_mode():
        out = gpt2.model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=1)
    assert batched.values[0] == gpt2.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert gpt2.tokenizer.pad_token is None and gpt2.tokenizer.padding_side == "right"  # left as it was
    assert set(batched.extra["per_example"]) == {"exact_match", "rouge_l"}


def test_seq2seq_model_through_the_summarization_type(tmp_path, t5):
    rows = [{"document": p, "summary": "short text"} for p in PROMPTS]
    data = write_jsonl(tmp_path / "docs.jsonl", rows)
    examples = SUMMARIZATION.load(str(data), SummarizationOptions(), split="train", max_examples=2, where="tasks.sum")
    assert examples.inputs == PROMPTS[:2] and examples.references == ["short text"] * 2
    predictions = SUMMARIZATION.predict(t5, examples, SummarizationOptions(max_new_tokens=3, prefix="summary "),
                                        batch_size=2)
    assert len(predictions.values) == 2 and all(isinstance(v, str) for v in predictions.values)
    assert 0.0 <= SUMMARIZATION.score(SUMMARIZATION.metric("rouge_l"), predictions, examples) <= 1.0


def test_nan_logits_are_counted_and_reported(gpt2):
    import torch

    broken = copy.deepcopy(gpt2.model)
    with torch.no_grad():
        broken.transformer.wte.weight.fill_(float("nan"))
    model = LoadedModel(broken, gpt2.tokenizer, "int8")
    examples = Examples(inputs=PROMPTS, references=["x"] * 3)
    predictions = GENERATION.predict(model, examples, GenerationOptions(max_new_tokens=2), batch_size=2)
    assert predictions.nonfinite == 3
    assert GENERATION.collapse(predictions, examples) == "3 of 3 examples gave NaN or infinite outputs"


def test_score_uses_stored_per_example_scores_and_the_index():
    examples = Examples(inputs=["p"] * 3, references=["a b", "c d", "e f"])
    predictions = Predictions(["a b", "c x", "z"], extra={"per_example": {"rouge_l": [1.0, 0.5, 0.0]}})
    metric = GENERATION.metric("rouge_l")
    assert GENERATION.score(metric, predictions, examples) == pytest.approx(0.5)
    assert GENERATION.score(metric, predictions, examples, index=[0, 0, 1]) == pytest.approx(2.5 / 3)
    assert GENERATION.score(metric, Predictions(predictions.values), examples) == pytest.approx(0.5)  # recomputed
    assert GENERATION.score(METRICS.get("exact_match"), predictions, examples) == pytest.approx(1 / 3)


def test_collapse_on_empty_or_identical_generations():
    examples = Examples(inputs=["p"] * 10, references=[f"r{i}" for i in range(10)])
    assert GENERATION.collapse(Predictions([""] * 10), examples) == "the model generates empty text for all 10 examples"
    assert "same text ('the') for all 10" in GENERATION.collapse(Predictions(["the"] * 10), examples)
    assert GENERATION.collapse(Predictions(["", "a"] + [""] * 8), examples) is None


def test_bad_column_names_the_column(tmp_path):
    data = write_jsonl(tmp_path / "gen.jsonl", [{"prompt": "a", "answer": "b"}])
    with pytest.raises(ConfigError, match=r"tasks\.gen\.reference_column = 'reference'.*columns: prompt, answer"):
        GENERATION.load(str(data), GenerationOptions(), split="train", max_examples=None, where="tasks.gen")
