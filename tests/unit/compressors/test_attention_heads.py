"""The project's own head masking, removal and head-pruned loading (transformers 5 has none of them), on
the tiny BERT classifier and the tiny GPT-2: a masked head must compute what a removed head computes, and
a head-pruned artifact must reload, and stack under later steps, with its smaller shapes."""

from __future__ import annotations

import pytest

from compressors import Context, compress, run_recipe
from compressors.loaders import load_model


def probe(vocab: int) -> dict:
    import torch

    ids = torch.randint(0, vocab, (3, 10), generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@pytest.mark.parametrize("which", ["bert", "gpt2"])
def test_a_zero_mask_computes_what_removing_the_head_computes(which, tiny_classifier_dir, tiny_gpt2_dir):
    import torch

    from compressors.methods.attention_heads import head_counts, head_mask, remove_heads

    path, task = (tiny_classifier_dir, "text-classification") if which == "bert" else (tiny_gpt2_dir, "causal-lm")
    model = load_model(path, task=task)
    inputs = probe(model.config.vocab_size)
    mask = torch.ones(2, 2)
    mask[0, 1] = mask[1, 0] = 0.0
    with torch.no_grad():
        full = model(**inputs).logits
        with head_mask(model, mask):
            masked = model(**inputs).logits
        remove_heads(model, {0: [1], 1: [0]})
        removed = model(**inputs).logits
    assert head_counts(model) == [(1, model.config.hidden_size // 2)] * 2
    assert not torch.allclose(full, masked, atol=1e-4)  # the mask did something
    assert torch.allclose(masked, removed, atol=1e-5)


def test_importance_gradient_flows_through_the_mask(tiny_classifier_dir):
    import torch

    from compressors.methods.attention_heads import head_mask

    model = load_model(tiny_classifier_dir, task="text-classification")
    mask = torch.ones(2, 2, requires_grad=True)
    with head_mask(model, mask):
        model(**probe(model.config.vocab_size)).logits.logsumexp(-1).sum().backward()
    assert mask.grad is not None and bool((mask.grad != 0).all())


def test_head_pruned_stage_feeds_later_steps_that_reload_smaller(tiny_classifier_dir, calibration_jsonl, tmp_path,
                                                                 assert_close_to_source):
    steps = [
        {"method": "prune-heads", "heads_per_layer": 1, "calibration": str(calibration_jsonl)},
        {"method": "prune-structured", "fraction": 0.25},
        {"method": "prune-magnitude", "sparsity": 0.3},
        {"method": "torch-dynamic-int8"},
    ]
    artifacts = run_recipe(tiny_classifier_dir, steps, tmp_path / "stages",
                           context=Context(model_task="text-classification"))
    heads, ffn, sparse, int8 = (load_model(a.path, task="text-classification") for a in artifacts)
    for model in (heads, ffn, sparse):
        assert model.bert.encoder.layer[1].attention.self.key.out_features == 32
    assert ffn.config.intermediate_size == 96
    assert artifacts[1].stats["parameters_after"] < artifacts[0].stats["parameters_after"]
    assert artifacts[2].stats["sparsity"] == pytest.approx(0.3, abs=0.01)
    assert artifacts[3].stats["quantized_layers"] > 0
    assert_close_to_source(int8, min_agreement=0.6, min_cosine=0.8)  # half the heads gone: close, not equal


def test_onnx_int8_of_a_head_pruned_stage_exports_the_smaller_model(tiny_classifier_dir, calibration_jsonl, tmp_path,
                                                                    assert_close_to_source):
    pytest.importorskip("onnxruntime")
    steps = [{"method": "prune-heads", "heads_per_layer": 1, "calibration": str(calibration_jsonl)},
             {"method": "onnx-dynamic-int8"}]
    context = Context(model_task="text-classification")
    heads, onnx = run_recipe(tiny_classifier_dir, steps, tmp_path / "stages", context=context)
    assert onnx.stats["quantized_layers"] > 0
    assert onnx.stats["weight_bytes"] < 0.5 * sum(p.stat().st_size for p in heads.path.glob("*.safetensors"))
    assert_close_to_source(load_model(onnx.path, task="text-classification"), min_agreement=0.6, min_cosine=0.8)


def test_a_cast_of_a_head_pruned_stage_reloads_in_half_precision(tiny_classifier_dir, calibration_jsonl, tmp_path):
    import torch

    steps = [{"method": "prune-heads", "heads_per_layer": 1, "calibration": str(calibration_jsonl)},
             {"method": "cast-bf16"}]
    _, cast = run_recipe(tiny_classifier_dir, steps, tmp_path / "stages", context=Context())
    model = load_model(cast.path, task="text-classification")
    assert model.bert.encoder.layer[0].attention.self.value.weight.dtype == torch.bfloat16
    assert model.bert.encoder.layer[0].attention.self.value.out_features == 32


def test_head_pruned_gpt2_reloads_with_its_tied_lm_head(tiny_gpt2_dir, calibration_jsonl, tmp_path, monkeypatch):
    import torch
    import transformers.modeling_utils

    # gptqmodel switches transformers 4's global weight init (and with it the tying) off for the process
    monkeypatch.setattr(transformers.modeling_utils, "_init_weights", False, raising=False)
    step = {"method": "prune-heads", "heads_per_layer": 1, "calibration": str(calibration_jsonl)}
    artifact = compress(tiny_gpt2_dir, step, tmp_path / "a", context=Context(model_task="causal-lm"))
    model = load_model(artifact.path, task="causal-lm")
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert model.transformer.h[0].attn.c_attn.nf == 3 * 16 and model.transformer.h[0].attn.c_proj.nx == 16
    with torch.no_grad():
        out = model.generate(torch.tensor([[3, 4, 5]]), max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape == (1, 7)


def test_distilling_a_head_pruned_teacher_keeps_the_kept_blocks_heads(tiny_classifier_dir, calibration_jsonl,
                                                                      tmp_path):
    from tests.tinymodels import make_rows, write_jsonl

    data = write_jsonl(tmp_path / "train.jsonl", make_rows(64, seed=5))
    steps = [
        {"method": "prune-heads", "heads_per_layer": 1, "calibration": str(calibration_jsonl)},
        {"method": "distill", "data": str(data), "epochs": 1, "batch_size": 32},
    ]
    pruned, student = run_recipe(tiny_classifier_dir, steps, tmp_path / "s", context=Context())
    model = load_model(student.path, task="text-classification")
    top = pruned.stats["pruned_heads"]["1"]  # the student's one block starts as the teacher's top block
    assert model.config.compressgate_pruned_heads == {"0": top}
    assert model.bert.encoder.layer[0].attention.self.query.out_features == 32
    assert student.stats["initialized_tensors"] == pytest.approx(len(model.state_dict()), abs=3)
