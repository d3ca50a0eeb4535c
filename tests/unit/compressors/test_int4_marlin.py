"""Marlin for symmetric INT4 (``int4_marlin``): the tile layout against Marlin's own packing loop (its
``Layer.pack``, kept here as the reference), the round trip, the arithmetic on CPU, what the layer refuses;
and on a CUDA GPU the built kernel against a float64 product of the dequantized weight at every row count
Marlin's dispatcher distinguishes (its refusal without nvcc is tested beside int4_cuda's, in test_int4_cuda.py,
as both come from ``kernels.build``). The GPU tests need a CUDA GPU and nvcc; without a GPU they are skipped
with that reason and run for real on a GPU machine.
"""

from __future__ import annotations

import pytest

from compressors import CompressionError
from compressors.kernels.int4_marlin import MarlinLinear, dequantize, fits, marlin_matmul, pack, unpack
from pytest_compressgate.targets import PRESETS, detect_machine

pytest.importorskip("torchao", reason="the INT4 parts come from torchao's helpers (pip install "
                                      "'pytest-compressgate[torchao]')")

NO_CUDA = bool(PRESETS.get("cuda").missing(detect_machine()))
needs_cuda = pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU (and nvcc) to build and run Marlin: run this file "
                                                 "on a GPU machine")


def symmetric_parts(rows: int, cols: int, seed: int, device: str = "cpu") -> tuple[dict, object]:
    import torch

    from compressors.methods.torchao_gpu_tensors import int4_components

    weight = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)
    return {k: v.to(device) for k, v in int4_components(weight, 128, symmetric=True).items()}, weight


def marlin_reference_pack(values, scale):
    """Marlin's ``Layer.pack`` from its repository, on integer values: the loop and permutations as written there."""
    import numpy as np
    import torch

    perm = []
    for i in range(32):
        perm1 = []
        col = i // 4
        for block in [0, 1]:
            for row in [2 * (i % 4), 2 * (i % 4) + 1, 2 * (i % 4 + 4), 2 * (i % 4 + 4) + 1]:
                perm1.append(16 * row + col + 8 * block)
        for j in range(4):
            perm.extend([p + 256 * j for p in perm1])
    perm = torch.from_numpy(np.array(perm).reshape((-1, 8))[:, np.array([0, 2, 4, 6, 1, 3, 5, 7])].ravel())
    scale_perm = [i + 8 * j for i in range(8) for j in range(8)]
    scale_perm_single = [2 * i + j for i in range(4) for j in [0, 1, 8, 9, 16, 17, 24, 25]]
    if scale.shape[1] == 1:  # groupsize == infeatures: Marlin's per-column scales
        scale_perm = scale_perm_single
    n, k = values.shape
    w = values.T.reshape((k // 16, 16, n // 16, 16)).permute((0, 2, 1, 3)).reshape((k // 16, n * 16))
    res = w.reshape((-1, perm.numel()))[:, perm].reshape(w.shape).numpy().astype(np.uint32)
    q = np.zeros((res.shape[0], res.shape[1] // 8), dtype=np.uint32)
    for i in range(8):
        q |= res[:, i::8] << 4 * i
    s = scale.T.to(torch.half).reshape((-1, len(scale_perm)))[:, scale_perm].reshape((-1, n))
    return torch.from_numpy(q.astype(np.int32)), s


@pytest.mark.parametrize(("n", "k"), [(512, 384), (256, 128)])  # several groups a column, and one
def test_pack_is_marlin_s_own_layout_and_unpack_inverts_it(n: int, k: int) -> None:
    import torch

    from compressors.methods.torchao_gpu_tensors import int4_values

    p, _ = symmetric_parts(n, k, seed=0)
    values = int4_values(p["qdata"]).to(torch.int32)
    packed = pack(values, p["scale"])
    weight, scale = marlin_reference_pack(values, p["scale"])
    assert torch.equal(packed["weight"], weight) and torch.equal(packed["scale"], scale)
    back, back_scale = unpack(packed["weight"], packed["scale"])
    assert torch.equal(back, values) and torch.equal(back_scale, p["scale"].to(torch.float16))


def test_symmetric_int4_has_no_zero_points_and_loses_only_rounding() -> None:
    import torch

    from compressors.methods.torchao_gpu_tensors import int4_values

    p, weight = symmetric_parts(256, 512, seed=1)
    assert not bool(p["zero_point"].any())
    packed = pack(int4_values(p["qdata"]).to(torch.int32), p["scale"])
    error = float((dequantize(packed["weight"], packed["scale"], torch.float32) - weight.float()).norm()
                  / weight.float().norm())
    assert 0.02 < error < 0.15  # 4 bits lose something, and only that


def test_marlin_layer_on_cpu_is_the_dequantized_product_also_compiled() -> None:
    import torch

    p, _ = symmetric_parts(256, 256, seed=2)
    bias = torch.randn(256).to(torch.bfloat16)
    layer = MarlinLinear(p, (256, 256), 128, bias=bias)
    x = torch.randn(2, 3, 256, generator=torch.Generator().manual_seed(3)).to(torch.bfloat16)
    w = dequantize(layer.weight, layer.scale, torch.float32)
    expected = torch.nn.functional.linear(x.float(), w, bias.float())
    assert layer(x).shape == (2, 3, 256) and layer(x).dtype == torch.bfloat16
    assert float((layer(x).float() - expected).norm() / expected.norm()) < 1e-2
    assert float((torch.compile(layer)(x).float() - expected).norm() / expected.norm()) < 1e-2


def test_marlin_refuses_shapes_it_has_no_tiles_for_and_asymmetric_weights() -> None:
    import torch

    from compressors.methods.torchao_gpu_tensors import int4_components

    assert fits((256, 128), 128) and fits((11008, 4096), 128)
    assert not fits((128, 128), 128) and not fits((256, 192), 128) and not fits((256, 256), 64)
    p, _ = symmetric_parts(128, 256, seed=4)
    with pytest.raises(CompressionError, match=r"out % 256"):
        MarlinLinear(p, (128, 256), 128)
    asymmetric = int4_components(torch.randn(256, 256).to(torch.bfloat16), 128)
    with pytest.raises(CompressionError, match="zero points"):
        MarlinLinear(asymmetric, (256, 256), 128)


@needs_cuda
@pytest.mark.parametrize("rows", [1, 2, 7, 16, 17, 64, 300])
@pytest.mark.parametrize(("n", "k"), [(256, 128), (512, 384), (4096, 4096), (11008, 4096), (4096, 11008)])
def test_marlin_computes_the_dequantized_product_on_the_gpu(rows: int, n: int, k: int) -> None:
    import torch

    layer = MarlinLinear(symmetric_parts(n, k, seed=rows + n, device="cuda")[0], (n, k), 128)
    x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows)).to(torch.float16).cuda()
    expected = x.double() @ dequantize(layer.weight, layer.scale, torch.float64).T
    out = marlin_matmul(x, layer.weight, layer.scale, layer.workspace)
    assert out.dtype == torch.float16 and out.shape == (rows, n) and bool(torch.isfinite(out).all())
    assert float((out.double() - expected).norm() / expected.norm()) < 1e-2, f"rows {rows}, {n}x{k}"
    assert not bool(layer.workspace.any())  # Marlin leaves its locks as it found them


@needs_cuda
def test_marlin_layer_replays_in_a_cuda_graph_after_compile() -> None:
    import torch

    module = MarlinLinear(symmetric_parts(512, 1024, seed=9, device="cuda")[0], (512, 1024), 128)
    layer = torch.compile(module, dynamic=False)
    x = torch.randn(1, 1, 1024, device="cuda").to(torch.bfloat16)
    layer(x)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = layer(x)
    x.copy_(torch.randn_like(x))
    expected = x.double() @ dequantize(module.weight, module.scale, torch.float64).T
    graph.replay()
    torch.cuda.synchronize()
    assert float((out.double() - expected).norm() / expected.norm()) < 1e-2
