"""The INT4 kernels of ``int4_triton``: the kernels' layout and its arithmetic (on CPU, against the stored
values and torchao's own dequantization) and the three Triton kernels against a float32 product of the
dequantized weight, on random data of odd shapes and every row count the dispatcher distinguishes. The
Triton tests need a CUDA GPU; without one they are skipped with that reason and run for real on a GPU machine.
"""

from __future__ import annotations

import pytest

from compressors.kernels.int4_triton import GEMM_ROWS, Int4Linear, dequantize, int4_matmul, pack, unpack_values
from pytest_compressgate.targets import PRESETS, detect_machine

pytest.importorskip("torchao", reason="the INT4 parts are made by torchao (pip install 'pytest-compressgate[torchao]')")

NO_CUDA = bool(PRESETS.get("cuda").missing(detect_machine()))
needs_cuda = pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU (Triton kernels): run this file on a GPU machine")


def parts(rows: int, cols: int, group: int, seed: int, device: str = "cpu") -> tuple[dict, object]:
    import torch

    from compressors.methods.torchao_gpu_tensors import int4_components

    weight = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)
    return {k: v.to(device) for k, v in int4_components(weight, group).items()}, weight


def relative_error(a, b) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def test_pack_keeps_every_value_also_those_that_set_the_sign_bit() -> None:
    import torch

    from compressors.methods.torchao_gpu_tensors import int4_values

    p, _ = parts(24, 256, 32, seed=1)
    packed = pack(p)
    assert packed["words"].dtype == torch.int32 and packed["words"].shape == (256 // 8, 24)
    assert packed["scale"].shape == (256 // 32, 24) and torch.equal(packed["scale"], p["scale"].T)
    assert bool((packed["words"] < 0).any())  # some words' last value is 8..15
    assert torch.equal(unpack_values(packed["words"]), int4_values(p["qdata"]).to(torch.int32))


@pytest.mark.parametrize("group", [32, 128])
def test_dequantize_is_torchao_s_arithmetic_and_close_to_the_weight(group: int) -> None:
    import torch
    from torchao.quantization.quant_primitives import _dequantize_affine_tinygemm

    p, weight = parts(48, 256, group, seed=group)
    q = torch.stack((p["qdata"] >> 4, p["qdata"] & 15), dim=-1).reshape(48, 256).to(torch.int32)
    theirs = _dequantize_affine_tinygemm(q, (1, group), p["scale"], p["zero_point"], torch.int32, 0, 15,
                                         output_dtype=torch.float32)
    ours = dequantize(pack(p), group, torch.float32)
    assert relative_error(ours, theirs) < 1e-2
    assert 0.01 < relative_error(ours, weight) < 0.2  # 4 bits lose something, and only that


def test_int4_linear_on_cpu_is_the_dequantized_product_also_compiled() -> None:
    import torch

    p, _ = parts(40, 128, 64, seed=3)
    bias = torch.randn(40).to(torch.bfloat16)
    layer = Int4Linear(p, (40, 128), 64, bias=bias)
    x = torch.randn(2, 3, 128, generator=torch.Generator().manual_seed(4)).to(torch.bfloat16)
    expected = torch.nn.functional.linear(x.float(), dequantize(pack(p), 64, torch.float32), bias.float())
    assert layer(x).shape == (2, 3, 40)
    assert relative_error(layer(x), expected) < 1e-2
    assert relative_error(torch.compile(layer)(x), expected) < 1e-2  # one opaque op under compile


@needs_cuda
@pytest.mark.parametrize("rows", [1, 2, 5, GEMM_ROWS, GEMM_ROWS + 1, 300])
@pytest.mark.parametrize(("n", "k", "group"), [(96, 256, 64), (1000, 384, 32), (4096, 11008, 128),
                                               (11008, 4096, 128), (24, 512, 256)])
def test_triton_kernels_compute_the_dequantized_product(rows: int, n: int, k: int, group: int) -> None:
    import torch

    p, _ = parts(n, k, group, seed=rows + n)
    x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16).cuda()
    packed = {k: v.cuda() for k, v in pack(p).items()}
    expected = x.double() @ dequantize(packed, group, torch.float64).T
    out = int4_matmul(x, packed["words"], packed["scale"], packed["zero_point"], group)
    assert out.dtype == torch.bfloat16 and out.shape == (rows, n)
    assert bool(torch.isfinite(out).all())
    assert relative_error(out, expected) < 1e-2, f"rows {rows}, {n}x{k}, group {group}"


@needs_cuda
def test_triton_layer_replays_in_a_cuda_graph_after_compile() -> None:
    import torch

    p, _ = parts(512, 1024, 128, seed=9, device="cuda")
    layer = torch.compile(Int4Linear(p, (512, 1024), 128), dynamic=False)
    x = torch.randn(1, 1, 1024, device="cuda").to(torch.bfloat16)
    layer(x)  # compiles and tunes outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = layer(x)
    x.copy_(torch.randn_like(x))
    expected = x.double() @ dequantize(pack(p), 128, torch.float64).T
    graph.replay()
    torch.cuda.synchronize()
    assert relative_error(out, expected) < 1e-2
