"""Pruning methods on the tiny classifier (and GPT-2 for Conv1D): every claim is checked on the artifact
reloaded from disk. Fixtures ``calibration_jsonl``, ``tiny_gpt2_dir`` and ``pickle_free`` come from conftest."""

from __future__ import annotations

import json
import pytest

from compressors import ConfigError, compress
from compressors.loaders import load_model


def linear_weights(model) -> dict:
    import torch.nn as nn

    return {name: m.weight.detach() for name, m in model.named_modules() if isinstance(m, nn.Linear)}


def zero_share(tensors) -> float:
    return sum(int((t == 0).sum()) for t in tensors) / sum(t.numel() for t in tensors)


def test_magnitude_half_sparsity_is_measured_in_the_reloaded_artifact(tiny_classifier_dir, tmp_path, pickle_free):
    artifact = compress(tiny_classifier_dir, {"method": "prune-magnitude", "sparsity": 0.5}, tmp_path / "a")
    weights = linear_weights(load_model(artifact.path, task="text-classification"))
    pruned = [w for name, w in weights.items() if not name.startswith("classifier")]
    assert zero_share(pruned) == pytest.approx(0.5, abs=0.01)
    assert int((weights["classifier"] == 0).sum()) == 0  # the head is skipped by default
    assert artifact.stats["sparsity"] == pytest.approx(zero_share(pruned), abs=1e-6)
    assert artifact.stats["model_sparsity"] == pytest.approx(zero_share(list(weights.values())), abs=1e-6)
    assert artifact.stats["nonzero_parameters"] < artifact.stats["parameters"]
    assert (artifact.path / "model.safetensors").is_file() and (artifact.path / "vocab.txt").is_file()
    pickle_free(artifact.path)


def test_magnitude_encoder_only_leaves_the_pooler_dense(tiny_classifier_dir, tmp_path):
    step = {"method": "prune-magnitude", "sparsity": 0.3, "scope": "encoder-only"}
    artifact = compress(tiny_classifier_dir, step, tmp_path / "a")
    weights = linear_weights(load_model(artifact.path, task="text-classification"))
    assert int((weights["bert.pooler.dense"] == 0).sum()) == 0
    encoder = [w for name, w in weights.items() if ".encoder.layer." in name]
    assert zero_share(encoder) == pytest.approx(0.3, abs=0.01)


def test_two_four_pattern_holds_after_reload(tiny_classifier_dir, tmp_path):
    artifact = compress(tiny_classifier_dir, {"method": "prune-2:4"}, tmp_path / "a")
    weights = linear_weights(load_model(artifact.path, task="text-classification"))
    for name, weight in weights.items():
        if name == "classifier":
            continue
        nonzero = (weight.reshape(weight.shape[0], -1, 4) != 0).sum(-1)
        assert int(nonzero.max()) <= 2, name
    assert artifact.stats["pattern_verified"] is True
    assert artifact.stats["sparsity"] == pytest.approx(0.5, abs=1e-6)


def test_weight_pruning_handles_conv1d_and_never_prunes_a_tied_lm_head(tiny_gpt2_dir, tmp_path):
    from compressors import Context

    ctx = Context(model_task="causal-lm")
    two_four = compress(tiny_gpt2_dir, {"method": "prune-2:4"}, tmp_path / "a", context=ctx)
    model = load_model(two_four.path, task="causal-lm")
    c_fc = model.transformer.h[0].mlp.c_fc.weight.detach()  # Conv1D stores (in, out): groups run down dim 0
    assert int((c_fc.t().reshape(c_fc.shape[1], -1, 4) != 0).sum(-1).max()) <= 2
    magnitude = compress(tiny_gpt2_dir, {"method": "prune-magnitude", "sparsity": 0.5, "skip_head": False},
                         tmp_path / "b", context=ctx)
    assert magnitude.stats["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert int((load_model(magnitude.path, task="causal-lm").lm_head.weight == 0).sum()) == 0


def test_head_pruning_records_heads_and_reloads_smaller(tiny_classifier_dir, calibration_jsonl, tmp_path):
    step = {"method": "prune-heads", "fraction": 0.5, "calibration": str(calibration_jsonl), "num_samples": 32}
    artifact = compress(tiny_classifier_dir, step, tmp_path / "a")
    stats = artifact.stats
    assert (stats["heads_before"], stats["heads_removed"], stats["heads_after"]) == (4, 2, 2)
    saved = json.loads((artifact.path / "config.json").read_text())["compressgate_pruned_heads"]
    assert saved == stats["pruned_heads"] and all(len(h) == 1 for h in saved.values())  # no layer emptied
    reloaded = load_model(artifact.path, task="text-classification")
    assert sum(p.numel() for p in reloaded.parameters()) == stats["parameters_after"] < stats["parameters_before"]
    attention = reloaded.bert.encoder.layer[0].attention
    assert attention.self.query.out_features == attention.output.dense.in_features == 32  # one 32-wide head left


def test_heads_per_layer_and_unlabelled_calibration(tiny_classifier_dir, tmp_path):
    from tests.tinymodels import make_rows, write_jsonl

    calib = write_jsonl(tmp_path / "c.jsonl", [{"text": r["text"]} for r in make_rows(16, seed=4)])
    step = {"method": "prune-heads", "heads_per_layer": 1, "calibration": str(calib)}
    artifact = compress(tiny_classifier_dir, step, tmp_path / "a")
    assert artifact.stats["used_labels"] is False and artifact.stats["heads_removed"] == 2


def test_structured_pruning_reloads_with_fewer_parameters_and_runs(tiny_classifier_dir, tmp_path):
    import torch

    from compressors.loaders import load_tokenizer

    artifact = compress(tiny_classifier_dir, {"method": "prune-structured", "fraction": 0.5}, tmp_path / "a")
    model = load_model(artifact.path, task="text-classification")
    assert model.config.intermediate_size == 64 == artifact.stats["intermediate_size_after"]
    assert sum(p.numel() for p in model.parameters()) == artifact.stats["parameters_after"]
    assert artifact.stats["parameters_after"] < artifact.stats["parameters_before"]
    enc = load_tokenizer(artifact.path)(["refund my invoice please"], return_tensors="pt")
    with torch.no_grad():
        assert model(**enc).logits.shape == (1, 3)


def test_head_and_structured_pruning_on_gpt2(tiny_gpt2_dir, calibration_jsonl, tmp_path):
    from compressors import Context

    ctx = Context(model_task="causal-lm")
    step = {"method": "prune-heads", "heads_per_layer": 1, "calibration": str(calibration_jsonl)}
    heads = compress(tiny_gpt2_dir, step, tmp_path / "a", context=ctx)
    assert heads.stats["used_labels"] is False  # language-model loss on the texts themselves
    assert heads.stats["parameters_after"] < heads.stats["parameters_before"]
    ffn = compress(tiny_gpt2_dir, {"method": "prune-structured", "fraction": 0.25}, tmp_path / "b", context=ctx)
    assert (ffn.stats["n_inner_before"], ffn.stats["n_inner_after"]) == (128, 96)  # n_inner None means 4 x 32
    assert load_model(ffn.path, task="causal-lm").transformer.h[1].mlp.c_fc.nf == 96


@pytest.mark.parametrize(("step", "key"), [
    ({"method": "prune-magnitude", "sparsity": 1.5}, "sparsity"),
    ({"method": "prune-magnitude", "sparsty": 0.5}, "sparsty"),
    ({"method": "prune-2:4", "scope": "everything"}, "scope"),
    ({"method": "prune-heads", "fraction": 0.0, "calibration": "c.jsonl"}, "fraction"),
    ({"method": "prune-heads", "fraction": 0.2, "heads_per_layer": 1}, "heads_per_layer"),
    ({"method": "prune-structured", "fraction": 1.0}, "fraction"),
])
def test_bad_parameters_raise_config_error_naming_the_key(tiny_classifier_dir, tmp_path, step, key):
    with pytest.raises(ConfigError, match=key):
        compress(tiny_classifier_dir, step, tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_head_pruning_without_calibration_data_says_how_to_give_it(tiny_classifier_dir, tmp_path):
    with pytest.raises(ConfigError, match="calibration ="):
        compress(tiny_classifier_dir, {"method": "prune-heads"}, tmp_path / "a")
