"""onnx-int4-weight-only: MatMul weights as 4-bit blocks (MatMulNBits) that reload and stay close to the source."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from compressors import ConfigError, compress, parse_step
from compressors.loaders import load_model


@pytest.fixture(scope="module")
def artifact(tiny_classifier_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return compress(tiny_classifier_dir, {"method": "onnx-int4-weight-only"}, tmp_path_factory.mktemp("art") / "a")


def test_every_linear_layer_is_a_matmulnbits_node(artifact) -> None:
    import onnx

    graph = onnx.load(str(artifact.path / artifact.stats["onnx_file"])).graph
    ops = Counter(node.op_type for node in graph.node)
    # 2 layers x (q, k, v, out, up, down); the pooler and classifier act on 2-D inputs, are exported as Gemm
    # and stay float (MatMulNBits replaces MatMul only), which the stats say
    assert ops["MatMulNBits"] == artifact.stats["quantized_layers"] == 12
    assert ops["Gemm"] == artifact.stats["float_matmuls_left"] == 2
    assert {a.name: a.i for n in graph.node if n.op_type == "MatMulNBits" for a in n.attribute}["bits"] == 4
    assert artifact.stats["bits"] == 4 and artifact.stats["block_size"] == 32
    assert 0.3 < artifact.stats["quantized_weight_share"] < 1  # the embeddings stay float


def test_reloaded_model_scores_close_to_source(artifact, tiny_classifier_dir, assert_close_to_source,
                                               pickle_free) -> None:
    model = load_model(artifact.path, task="text-classification")
    assert type(model).__name__ == "OrtModel"
    assert_close_to_source(model, min_agreement=0.9, min_cosine=0.98)
    pickle_free(artifact.path)
    source_bytes = (tiny_classifier_dir / "model.safetensors").stat().st_size
    assert artifact.stats["weight_bytes"] < source_bytes / 1.4  # embeddings are most of this tiny model


def test_smaller_blocks_and_asymmetric_weights_are_closer(tiny_classifier_dir, tmp_path, eval_batch) -> None:
    import torch

    def error(step: dict) -> float:
        art = compress(tiny_classifier_dir, step, tmp_path / str(len(list(tmp_path.iterdir()))))
        with torch.no_grad():
            logits = load_model(art.path, task="text-classification")(**eval_batch["encoding"]).logits.float()
        return float((logits - eval_batch["logits"]).abs().mean())

    coarse = error({"method": "onnx-int4-weight-only", "block_size": 64, "accuracy_level": 0})
    fine = error({"method": "onnx-int4-weight-only", "block_size": 16, "symmetric": False, "accuracy_level": 0})
    assert fine < coarse


@pytest.mark.parametrize(("key", "value", "message"), [
    ("block_size", 48, "block_size = 48 is invalid: expected 16, 32, 64, 128 or 256"),
    ("block_size", 512, "block_size = 512 is invalid"),
    ("accuracy_level", 5, "accuracy_level = 5 is invalid: expected 0, 1, 2, 3 or 4"),
])
def test_bad_settings_name_the_key(key, value, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_step({"method": "onnx-int4-weight-only", key: value}, "targets.cpu.recipe[0]")
