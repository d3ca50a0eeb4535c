"""The INT4 method with a fused decode GEMV: the same stored INT4 as the plain method, and a one-row
product that computes what the stored numbers say, eager on CPU (checked here) and fused under
torch.compile on a GPU (checked on a GPU machine; skipped elsewhere with the reason)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compressors import ConfigError, Context, compress, parse_step
from pytest_compressgate.targets import PRESETS, detect_machine

pytest.importorskip("torchao", reason="the torchao methods need torchao (pip install 'pytest-compressgate[torchao]')")

CAUSAL = Context(task="causal-lm", hardware="cuda-sm90")
NO_CUDA = bool(PRESETS.get("cuda").missing(detect_machine()))
needs_cuda = pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU: run this file on a GPU machine")


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinymodels import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("gemv-src") / "llama", hidden=128, intermediate=256, layers=2,
                      heads=4, kv_heads=4, train_steps=20)


@pytest.fixture(scope="module")
def artifacts(llama: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("gemv-out")
    return {m: compress(llama, {"method": m}, out / m, context=CAUSAL)
            for m in ("torchao-int4-gemv", "torchao-int4-weight-only")}


def test_group_size_is_checked_like_the_plain_int4_method() -> None:
    _, config = parse_step({"method": "torchao-int4-gemv"})
    assert config.group_size == 128
    with pytest.raises(ConfigError, match="group_size") as info:
        parse_step({"method": "torchao-int4-gemv", "group_size": 96})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("group_size", [64, 128])
def test_gemv_computes_the_dequantized_product(group_size: int) -> None:
    import torch

    from compressors.methods.torchao_gpu_gemv import int4_gemv
    from compressors.methods.torchao_gpu_tensors import int4_components, int4_weight

    gen = torch.Generator().manual_seed(group_size)
    weight = torch.randn(96, 512, generator=gen).to(torch.bfloat16)
    parts = int4_components(weight, group_size)
    dequantized = int4_weight(parts, (96, 512), group_size)  # on CPU: tinygemm's numbers as bf16
    x = torch.randn(1, 1, 512, generator=gen).to(torch.bfloat16)
    want = x.float().reshape(1, 512) @ dequantized.float().t()
    got = int4_gemv(x, parts["qdata"], parts["scale"], parts["zero_point"], group_size)
    assert got.shape == (96,)
    assert ((got - want.flatten()).norm() / want.norm()) < 1e-2


@pytest.mark.slow
def test_stores_what_the_plain_int4_method_stores(artifacts: dict, pickle_free) -> None:
    from compressors.methods.woq_stats import tensor_headers

    gemv, plain = artifacts["torchao-int4-gemv"], artifacts["torchao-int4-weight-only"]
    pickle_free(gemv.path)
    assert tensor_headers(gemv.path) == tensor_headers(plain.path)
    assert gemv.stats["effective_bits_quantized_layers"] == 4.25 and "GEMV" in gemv.stats["decode_path"]
    assert json.loads((gemv.path / "compressgate-torch.json").read_text())["scheme"] == "torchao-int4-gemv"


@pytest.mark.slow
def test_one_row_calls_use_the_gemv_under_compile_and_match_eager(artifacts: dict, monkeypatch) -> None:
    import torch

    from compressors.loaders import load_model
    from compressors.methods import torchao_gpu_gemv

    model = load_model(artifacts["torchao-int4-gemv"].path, task="causal-lm")
    layer = model.get_submodule("model.layers.0.mlp.down_proj")
    assert type(layer).__name__ == "Int4GemvLinear" and layer.gemv_qdata.dtype == torch.uint8
    ids = torch.randint(0, model.config.vocab_size, (1, 1), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        eager = model(input_ids=ids).logits.float()
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)  # the branch torch.compile traces
        calls = []
        gemv = torchao_gpu_gemv.int4_gemv
        monkeypatch.setattr(torchao_gpu_gemv, "int4_gemv", lambda *a: calls.append(1) or gemv(*a))
        fused = model(input_ids=ids).logits.float()
        two_rows = model(input_ids=ids.repeat(1, 2)).logits.float()
    assert len(calls) == artifacts["torchao-int4-gemv"].stats["quantized_layers"]  # once a layer, 2 rows: none
    assert two_rows.shape[1] == 2
    assert ((fused - eager).norm() / eager.norm()) < 1e-2


@needs_cuda
@pytest.mark.slow
def test_compiled_decoding_step_on_the_gpu_matches_tinygemm(artifacts: dict) -> None:
    import torch

    from compressors.loaders import load_model

    model = load_model(artifacts["torchao-int4-gemv"].path, task="causal-lm", device="cuda")
    ids = torch.randint(0, model.config.vocab_size, (1, 1), device="cuda")
    with torch.inference_mode():
        eager = model(input_ids=ids).logits.float()
        fused = torch.compile(model, dynamic=False)(input_ids=ids).logits.float()
    assert ((fused - eager).norm() / eager.norm()) < 1e-2
