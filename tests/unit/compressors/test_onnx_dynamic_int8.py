"""onnx-dynamic-int8: ONNX Runtime dynamic INT8 (no optimum), plain and with transformer fusions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from compressors import ConfigError, Context, compress, parse_step
from compressors.loaders import load_model


def _ops(artifact) -> Counter:
    import onnx

    graph = onnx.load(str(artifact.path / artifact.stats["onnx_file"])).graph
    return Counter(node.op_type for node in graph.node)


@pytest.fixture(scope="module")
def plain(tiny_classifier_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return compress(tiny_classifier_dir, {"method": "onnx-dynamic-int8"}, tmp_path_factory.mktemp("art") / "plain",
                    context=Context(hardware="x86-avx2"))


@pytest.fixture(scope="module")
def fused(tiny_classifier_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return compress(tiny_classifier_dir, {"method": "onnx-dynamic-int8", "fuse": True},
                    tmp_path_factory.mktemp("art") / "fused")


def test_plain_graph_has_integer_matmuls_for_every_linear(plain) -> None:
    # 14 weight matmuls (2 blocks x q, k, v, out, up, down + pooler + classifier) and, per block, the two
    # activation x activation matmuls of attention (scores and context), also quantized on the fly
    assert _ops(plain)["MatMulInteger"] == 14 + 2 * 2
    assert plain.stats["quantized_layers"] == 18 and plain.stats["float_matmuls_left"] == 0
    assert plain.stats["preset"] == "avx2"  # implied by the target's hardware
    assert plain.stats["fused"] is False


def test_fused_graph_quantizes_the_fused_attention(fused) -> None:
    ops = _ops(fused)
    assert ops["QAttention"] == 2  # q, k and v of each block in one integer attention kernel
    assert ops["SkipLayerNormalization"] > 0 and ops["MatMulInteger"] > 0
    assert fused.stats["fused"] is True
    assert fused.stats["quantized_layers"] == ops["QAttention"] + ops["MatMulInteger"]


@pytest.mark.parametrize("which", ["plain", "fused"])
def test_reloaded_copy_scores_close_to_source(which, request, tiny_classifier_dir, assert_close_to_source,
                                              pickle_free) -> None:
    artifact = request.getfixturevalue(which)
    model = load_model(artifact.path, task="text-classification")
    assert type(model).__name__ == "OrtModel" and model.task == "text-classification"
    assert_close_to_source(model)
    pickle_free(artifact.path)
    assert artifact.stats["weight_bytes"] < (tiny_classifier_dir / "model.safetensors").stat().st_size / 2.5


@pytest.mark.parametrize(("params", "match"), [
    ({"preset": "avx1024"}, "preset"),
    ({"reduce_range": True, "preset": "avx512_vnni"}, "reduce_range"),
    ({"fuse": "yes"}, "fuse"),
])
def test_bad_params_name_the_key(params, match, tiny_classifier_dir, tmp_path) -> None:
    with pytest.raises(ConfigError, match=match):
        compress(tiny_classifier_dir, parse_step({"method": "onnx-dynamic-int8", **params}), tmp_path / "art")
    assert not (tmp_path / "art").exists()  # nothing half-written is left behind


def test_fused_causal_lm_reloads_and_generates(tmp_path: Path) -> None:
    from tests.tinymodels import tiny_llama

    source = tiny_llama(tmp_path / "llama", train_steps=20)
    artifact = compress(source, {"method": "onnx-dynamic-int8", "fuse": True}, tmp_path / "art",
                        context=Context(model_task="causal-lm"))
    assert artifact.stats["fused"] is True and artifact.stats["float_matmuls_left"] == 0
    model, reference = load_model(artifact.path, task="causal-lm"), load_model(source, task="causal-lm")
    from compressors.loaders import load_tokenizer

    ids = load_tokenizer(source)(["def parse(text): return the value"], return_tensors="pt",
                                 return_token_type_ids=False)
    a, b = reference(**ids).logits.detach(), model(**ids).logits
    assert 0 < float((a - b).norm() / a.norm()) < 0.05  # quantized, and close
    out = model.generate(**ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 4
