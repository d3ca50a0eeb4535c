"""onnx-static-int8: calibrated ONNX Runtime INT8 that reloads from disk and stays close to the source."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from compressors import CompressionError, ConfigError, compress, parse_step
from compressors.loaders import load_model, load_tokenizer


@pytest.fixture(scope="module")
def artifact(tiny_classifier_dir: Path, calibration_jsonl: Path, tmp_path_factory: pytest.TempPathFactory):
    step = {"method": "onnx-static-int8", "calibration": str(calibration_jsonl), "num_samples": 32}
    return compress(tiny_classifier_dir, step, tmp_path_factory.mktemp("art") / "static")


def test_reloaded_graph_holds_int8_weights(artifact) -> None:
    import onnx
    from onnx import TensorProto

    graph = onnx.load(str(artifact.path / artifact.stats["onnx_file"])).graph
    ops = Counter(node.op_type for node in graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > 0
    assert any(init.data_type == TensorProto.INT8 for init in graph.initializer)
    assert artifact.stats["quantized_layers"] == 14  # 2 x (q, k, v, out, up, down) + pooler + classifier
    assert artifact.stats["quantized_weight_share"] > 0.8
    assert artifact.stats["calibration_samples"] == 32
    assert artifact.stats["calibration_method"] == "minmax"


def test_reloaded_model_scores_close_to_source(artifact, tiny_classifier_dir, assert_close_to_source,
                                               pickle_free) -> None:
    model = load_model(artifact.path, task="text-classification")
    assert type(model).__name__ == "OrtModel" and model.task == "text-classification"
    assert load_tokenizer(artifact.path).vocab == load_tokenizer(tiny_classifier_dir).vocab
    assert_close_to_source(model)
    pickle_free(artifact.path)
    source_bytes = (tiny_classifier_dir / "model.safetensors").stat().st_size
    assert artifact.stats["weight_bytes"] < source_bytes / 2.5


@pytest.mark.parametrize("calibration_method", ["percentile", "entropy"])
def test_histogram_calibration(calibration_method, tiny_classifier_dir, calibration_jsonl, tmp_path,
                               assert_close_to_source) -> None:
    step = {"method": "onnx-static-int8", "calibration": str(calibration_jsonl),
            "calibration_method": calibration_method, "num_samples": 16, "preset": "arm64"}
    artifact = compress(tiny_classifier_dir, step, tmp_path / "art")
    assert artifact.stats["calibration_method"] == calibration_method
    assert artifact.stats["preset"] == "arm64"
    assert_close_to_source(load_model(artifact.path, task="text-classification"))


def test_without_any_calibration_texts_names_the_key(tiny_classifier_dir, tmp_path) -> None:
    with pytest.raises(ConfigError, match="calibration is required"):
        compress(tiny_classifier_dir, {"method": "onnx-static-int8"}, tmp_path / "art")
    assert not (tmp_path / "art").exists()


def test_a_file_without_the_text_column_names_it(tiny_classifier_dir, tmp_path) -> None:
    calib = tmp_path / "calib.jsonl"
    calib.write_text('{"sentence": "hello"}\n')
    with pytest.raises(ConfigError, match="no 'text' column.*sentence.*text_column"):
        compress(tiny_classifier_dir, {"method": "onnx-static-int8", "calibration": str(calib)}, tmp_path / "a")


@pytest.mark.parametrize(("params", "key"), [
    ({"calibration_method": "median"}, "calibration_method"),
    ({"num_samples": 0}, "num_samples"),
    ({"percentile": 120.0}, "percentile"),
    ({"calibration": "calib.parquet"}, "calibration"),
    ({"preset": "avx9000"}, "preset"),
    ({"per_chanel": True}, "per_chanel"),
])
def test_bad_params_name_the_key(params, key) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_step({"method": "onnx-static-int8", **params})


def test_reduce_range_is_refused_for_vnni(tiny_classifier_dir, calibration_jsonl, tmp_path) -> None:
    step = {"method": "onnx-static-int8", "calibration": str(calibration_jsonl), "reduce_range": True}
    with pytest.raises(ConfigError, match="reduce_range"):
        compress(tiny_classifier_dir, step, tmp_path / "art")


def test_refuses_a_graph_without_integer_operators(monkeypatch, tiny_classifier_dir, calibration_jsonl,
                                                   tmp_path) -> None:
    from compressors.methods import onnx_quant

    monkeypatch.setattr(onnx_quant, "onnx_quant_stats", lambda path: {"quantized_layers": 0})
    step = {"method": "onnx-static-int8", "calibration": str(calibration_jsonl), "num_samples": 8}
    with pytest.raises(CompressionError, match="no integer operators"):
        compress(tiny_classifier_dir, step, tmp_path / "art")


def test_operators_default_to_the_weight_ops_and_can_take_the_presets_list(tiny_classifier_dir, calibration_jsonl,
                                                                           tmp_path, assert_close_to_source) -> None:
    step = {"method": "onnx-static-int8", "calibration": str(calibration_jsonl), "num_samples": 16}
    default = compress(tiny_classifier_dir, step, tmp_path / "default")
    assert default.stats["operators"] == ["MatMul", "Gemm", "Gather"]
    preset = compress(tiny_classifier_dir, {**step, "operators": []}, tmp_path / "preset")
    assert "LayerNormalization" in preset.stats["operators"] and "Where" not in preset.stats["operators"]
    assert_close_to_source(load_model(default.path, task="text-classification"))


def test_unknown_operator_is_named_with_a_suggestion(tiny_classifier_dir, calibration_jsonl, tmp_path) -> None:
    step = {"method": "onnx-static-int8", "calibration": str(calibration_jsonl), "operators": ["Matmul"]}
    with pytest.raises(ConfigError, match="operators: 'Matmul' is not an op type .* Did you mean 'MatMul'"):
        compress(tiny_classifier_dir, step, tmp_path / "art")
    assert not (tmp_path / "art").exists()
