"""The project's ONNX export and ONNX Runtime wrapper (no optimum): outputs within 1e-4 of torch at other
shapes than the traced one, greedy generation token for token, and inputs a tokenizer leaves out
defaulted the way transformers defaults them."""

from __future__ import annotations

from pathlib import Path

import pytest

from compressors.loaders import load_model, load_tokenizer
from compressors.onnx import OrtModel, export_pretrained

TEXTS = ["please reset my password", "where is my parcel", "the invoice shows a charge i do not know of today"]


def _export(source: Path, out: Path, task: str, **kwargs) -> OrtModel:
    path = export_pretrained(source, out, task=task, **kwargs)
    return OrtModel.from_pretrained(path.parent, task=task)


def _max_diff(a, b, mask=None) -> float:
    if mask is not None:  # padded positions of per-token outputs are no part of the answer
        a, b = a[mask.bool()], b[mask.bool()]
    return float((a - b).abs().max())


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinymodels import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("models") / "llama", train_steps=20)


@pytest.mark.parametrize("eager_attention", [False, True], ids=["sdpa", "eager"])
def test_classifier_logits_match_torch(eager_attention, tiny_classifier_dir, tmp_path) -> None:
    tokenizer = load_tokenizer(tiny_classifier_dir)
    source = load_model(tiny_classifier_dir, task="text-classification")
    model = _export(tiny_classifier_dir, tmp_path, "text-classification", eager_attention=eager_attention)
    assert model.input_names == ["input_ids", "attention_mask", "token_type_ids"]
    assert model.output_names == ["logits"] and model.config.id2label == source.config.id2label
    for texts in (TEXTS[:1], TEXTS):  # batch 1, and a padded batch of 3 (the trace saw 2 x 8 tokens)
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        want, got = source(**enc).logits.detach(), model(**enc).logits
        assert got.shape == want.shape and _max_diff(got, want) < 1e-4
        assert (got.argmax(-1) == want.argmax(-1)).all()
    assert str(model.device) == "cpu" and not source.training  # the export leaves the source in eval mode


def test_feature_extractor_hidden_states_match_torch(tmp_path) -> None:
    from tests.unit.tasks.tiny_task_models import tiny_bert

    source_dir = tiny_bert(tmp_path / "bert", "feature-extraction")
    tokenizer, source = load_tokenizer(source_dir), load_model(source_dir, task="feature-extraction")
    model = _export(source_dir, tmp_path / "onnx", "feature-extraction")
    enc = tokenizer(["john lives in paris", "mary works at acme corp in new york city"], padding=True,
                    return_tensors="pt")
    want, got = source(**enc).last_hidden_state.detach(), model(**enc).last_hidden_state
    assert got.shape == want.shape and _max_diff(got, want, enc["attention_mask"]) < 1e-4
    without_types = {k: v for k, v in enc.items() if k != "token_type_ids"}  # defaults to zeros, as in BERT
    assert _max_diff(model(**without_types).last_hidden_state, got) == 0.0
    as_numpy = model(**{k: v.numpy() for k, v in enc.items()}).last_hidden_state  # numpy in, numpy out
    assert type(as_numpy).__module__ == "numpy" and float(abs(as_numpy - got.numpy()).max()) == 0.0
    with pytest.raises(TypeError, match="unexpected inputs \\['labels'\\]"):
        model(**enc, labels=enc["input_ids"])
    with pytest.raises(TypeError, match="needs a causal-LM graph"):
        model.generate(input_ids=enc["input_ids"])


def test_causal_lm_logits_match_torch_and_have_no_cache_inputs(llama_dir, tmp_path) -> None:
    tokenizer, source = load_tokenizer(llama_dir), load_model(llama_dir, task="causal-lm")
    model = _export(llama_dir, tmp_path, "causal-lm")
    assert model.input_names == ["input_ids", "attention_mask", "position_ids"] and model.output_names == ["logits"]
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt", return_token_type_ids=False)
    want, got = source(**enc).logits.detach(), model(**enc).logits
    assert got.shape == want.shape and _max_diff(got, want, enc["attention_mask"]) < 1e-4


def _left_padded(tokenizer, prompts):
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer(prompts, padding=True, return_tensors="pt", return_token_type_ids=False)


def test_llama_greedy_generation_equals_torch(llama_dir, tmp_path) -> None:
    tokenizer, source = load_tokenizer(llama_dir), load_model(llama_dir, task="causal-lm")
    model = _export(llama_dir, tmp_path, "causal-lm")
    enc = _left_padded(tokenizer, ["def parse(text):", "Return the value of the"])
    assert (enc["attention_mask"] == 0).any()  # one prompt is left-padded: positions must count real tokens
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    want = source.generate(**enc, **kwargs)
    seen = []
    got = model.generate(**enc, **kwargs, logits_processor=[lambda ids, scores: seen.append(ids.shape) or scores])
    assert got.shape[1] > enc["input_ids"].shape[1] and got.tolist() == want.tolist()
    assert seen[0] == enc["input_ids"].shape and len(seen) == got.shape[1] - enc["input_ids"].shape[1]
    with pytest.raises(ValueError, match="greedily only"):
        model.generate(**enc, max_new_tokens=2, do_sample=True)


def test_gpt2_generation_stops_and_pads_like_torch(tiny_gpt2_dir, tmp_path) -> None:
    import onnx

    tokenizer, source = load_tokenizer(tiny_gpt2_dir), load_model(tiny_gpt2_dir, task="causal-lm")
    model = _export(tiny_gpt2_dir, tmp_path, "causal-lm")
    embedding = tuple(source.get_input_embeddings().weight.shape)
    shapes = [tuple(i.dims) for i in onnx.load(model.path).graph.initializer]
    assert source.config.tie_word_embeddings and shapes.count(embedding) + shapes.count(embedding[::-1]) == 1
    enc = _left_padded(tokenizer, ["refund my order", "the parcel is late again today"])
    free = source.generate(**enc, max_new_tokens=5, do_sample=False, pad_token_id=0, eos_token_id=99)
    stop = int(free[0, enc["input_ids"].shape[1] + 1])  # the first row's second new token ends it
    kwargs = {"max_new_tokens": 5, "do_sample": False, "pad_token_id": 0, "eos_token_id": stop}
    want, got = source.generate(**enc, **kwargs), model.generate(**enc, **kwargs)
    assert got.tolist() == want.tolist() and stop in got[0, enc["input_ids"].shape[1]:].tolist()
