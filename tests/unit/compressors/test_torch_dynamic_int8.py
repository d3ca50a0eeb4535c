"""torch-dynamic-int8: quantize_dynamic on nn.Linear, saved as int8 safetensors and rebuilt on load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compressors import CompressionError, ConfigError, Context, compress, parse_step
from compressors.loaders import load_model


@pytest.fixture(scope="module")
def artifact(tiny_classifier_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return compress(tiny_classifier_dir, {"method": "torch-dynamic-int8"}, tmp_path_factory.mktemp("art") / "tdq")


def _dynamic_linears(model) -> list[str]:
    from torch.ao.nn.quantized.dynamic import Linear

    return [name for name, module in model.named_modules() if isinstance(module, Linear)]


def test_reloaded_model_is_quantized_and_close_to_source(artifact, assert_close_to_source, pickle_free) -> None:
    import torch

    model = load_model(artifact.path, task="text-classification")
    assert len(_dynamic_linears(model)) == artifact.stats["quantized_layers"] == 14
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    assert_close_to_source(model, min_cosine=0.98)
    pickle_free(artifact.path)


def test_weights_are_stored_as_int8(artifact, tiny_classifier_dir) -> None:
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(artifact.path / "model.int8.safetensors"))
    assert tensors["bert.encoder.layer.0.attention.self.query.weight"].dtype == torch.int8
    assert artifact.stats["quantized_weight_share"] > 0.8
    assert artifact.stats["weight_bytes"] == sum(t.numel() * t.element_size() for t in tensors.values())
    assert artifact.stats["weight_bytes"] < (tiny_classifier_dir / "model.safetensors").stat().st_size / 2.5
    layout = json.loads((artifact.path / "compressgate-torch.json").read_text())
    assert layout["scheme"] == "torch-dynamic-int8" and len(layout["layers"]) == 14


def test_per_tensor_and_exclude(tiny_classifier_dir, tmp_path, assert_close_to_source) -> None:
    step = {"method": "torch-dynamic-int8", "per_channel": False, "exclude": ["classifier"]}
    artifact = compress(tiny_classifier_dir, step, tmp_path / "art")
    assert artifact.stats["quantized_layers"] == 13 and artifact.stats["float_linear_layers"] == 1
    model = load_model(artifact.path, task="text-classification")
    assert "classifier" not in _dynamic_linears(model)
    assert_close_to_source(model, min_cosine=0.98)


def test_gpt2_is_refused_because_it_has_no_linear_layers(tiny_gpt2_dir, tmp_path) -> None:
    with pytest.raises(CompressionError) as info:
        compress(tiny_gpt2_dir, {"method": "torch-dynamic-int8"}, tmp_path / "art",
                 context=Context(model_task="causal-lm"))
    message = str(info.value)
    assert "quantize nothing" in message and "Conv1D" in message and "lm_head" in message
    assert "onnx-dynamic-int8" in message and "gptq" in message
    assert not (tmp_path / "art").exists()


def test_excluding_every_layer_is_refused(tiny_classifier_dir, tmp_path) -> None:
    with pytest.raises(CompressionError, match="quantize nothing.*exclude"):
        compress(tiny_classifier_dir, {"method": "torch-dynamic-int8", "exclude": ["*"]}, tmp_path / "art")


@pytest.mark.parametrize(("params", "key"), [
    ({"per_channel": "yes"}, "per_channel"),
    ({"exclude": "classifier"}, "exclude"),
    ({"exclude": [""]}, "exclude"),
    ({"dtype": "qint4"}, "dtype"),
])
def test_bad_params_name_the_key(params, key) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_step({"method": "torch-dynamic-int8", **params})
