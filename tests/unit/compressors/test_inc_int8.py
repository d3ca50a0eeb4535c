"""inc-int8-static / inc-int8-dynamic: Intel Neural Compressor's PT2E quantization, persisted as ONNX QDQ."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from compressors import CompressionError, ConfigError, Context, compress, parse_step
from compressors.loaders import load_model

pytest.importorskip("neural_compressor.torch.quantization")


@pytest.fixture(scope="module")
def static_artifact(tiny_classifier_dir: Path, calibration_jsonl: Path, tmp_path_factory: pytest.TempPathFactory):
    step = {"method": "inc-int8-static", "calibration": str(calibration_jsonl), "num_samples": 32}
    return compress(tiny_classifier_dir, step, tmp_path_factory.mktemp("art") / "inc-static")


@pytest.fixture(scope="module")
def dynamic_artifact(tiny_classifier_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return compress(tiny_classifier_dir, {"method": "inc-int8-dynamic"}, tmp_path_factory.mktemp("art") / "inc-dyn")


def _graph_ops(artifact):
    import onnx

    graph = onnx.load(str(artifact.path / "model.onnx")).graph
    return Counter(node.op_type for node in graph.node), graph


def test_static_writes_int8_weights_and_fixed_activation_scales(static_artifact) -> None:
    from onnx import TensorProto

    ops, graph = _graph_ops(static_artifact)
    assert ops["QuantizeLinear"] == 14 and ops["DynamicQuantizeLinear"] == 0  # one per linear input
    assert sum(init.data_type == TensorProto.INT8 for init in graph.initializer) >= 14
    stats = static_artifact.stats
    assert stats["inc_linear_layers"] == stats["quantized_layers"] == 14
    assert stats["inc_float_linear_layers"] == 0
    assert stats["quantized_weight_share"] > 0.8
    assert stats["inc_parity_min_cosine"] >= 0.99  # the ONNX copy computes what INC's model computes


def test_dynamic_quantizes_activations_at_run_time(dynamic_artifact) -> None:
    ops, _ = _graph_ops(dynamic_artifact)
    assert ops["DynamicQuantizeLinear"] == 14 and ops["QuantizeLinear"] == 0
    assert dynamic_artifact.stats["quantized_layers"] == 14
    assert dynamic_artifact.stats["calibration_samples"] >= 2  # INC needs a run even for dynamic


def test_layers_outside_the_task_output_are_not_counted(tiny_classifier_dir: Path, tmp_path: Path) -> None:
    # As a feature extractor the encoder returns last_hidden_state; INC also quantizes the pooler, which the
    # exported graph drops. Those layers are named, not counted, and the artifact is accepted.
    artifact = compress(tiny_classifier_dir, {"method": "inc-int8-dynamic"}, tmp_path / "art",
                        context=Context(model_task="feature-extraction"))
    stats = artifact.stats
    assert stats["inc_layers_outside_task_output"] == ["pooler.dense"]
    assert stats["inc_linear_layers"] == stats["quantized_layers"] == 12  # 2 blocks x (q, k, v, out, up, down)
    assert stats["inc_parity_min_cosine"] >= 0.99


@pytest.mark.parametrize("which", ["static_artifact", "dynamic_artifact"])
def test_reloaded_copy_scores_close_to_source(which, request, assert_close_to_source, pickle_free,
                                              tiny_classifier_dir) -> None:
    artifact = request.getfixturevalue(which)
    assert artifact.format.value == "onnx"
    model = load_model(artifact.path, task="text-classification")
    assert_close_to_source(model)
    pickle_free(artifact.path)
    source_bytes = (tiny_classifier_dir / "model.safetensors").stat().st_size
    assert artifact.stats["weight_bytes"] < source_bytes / 2.5


def test_static_without_calibration_names_the_key(tiny_classifier_dir, tmp_path) -> None:
    with pytest.raises(ConfigError, match="calibration is required"):
        compress(tiny_classifier_dir, {"method": "inc-int8-static"}, tmp_path / "art")


@pytest.mark.parametrize(("method", "params", "key"), [
    ("inc-int8-static", {"num_samples": 0}, "num_samples"),
    ("inc-int8-static", {"calibration": "texts.xlsx"}, "calibration"),
    ("inc-int8-dynamic", {"batch_size": -1}, "batch_size"),
    ("inc-int8-dynamic", {"bits": 4}, "bits"),
])
def test_bad_params_name_the_key(method, params, key) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_step({"method": method, **params})


def test_gpt2_is_refused_with_a_reason(tiny_gpt2_dir, tmp_path) -> None:
    with pytest.raises(CompressionError, match="onnx-dynamic-int8"):
        compress(tiny_gpt2_dir, {"method": "inc-int8-dynamic"}, tmp_path / "art",
                 context=Context(model_task="causal-lm"))
    assert not (tmp_path / "art").exists()
