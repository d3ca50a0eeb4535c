"""compressgate's INT4 CUDA kernels (``int4_cuda``): the layout's round trip and its word order, the
arithmetic on CPU against torchao's own dequantization, the build's refusal without nvcc; and on a CUDA
GPU the built GEMV against a float64 product of the dequantized weight at every row count its templates
distinguish, with and without zero points, the prompt path, and a compiled layer replayed in a CUDA graph.
The GPU tests need a CUDA GPU and nvcc; without a GPU they are skipped with that reason and run for real
on a GPU machine.
"""

from __future__ import annotations

import pytest

from compressors import CompressionError
from compressors.kernels.int4_cuda import Int4CudaLinear, WORD_ORDER, dequantize, int4_cuda_matmul, pack, unpack
from pytest_compressgate.targets import PRESETS, detect_machine

pytest.importorskip("torchao", reason="the INT4 parts come from torchao's helpers (pip install "
                                      "'pytest-compressgate[torchao]')")

NO_CUDA = bool(PRESETS.get("cuda").missing(detect_machine()))
needs_cuda = pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU (and nvcc) to build and run the kernels: run this "
                                                 "file on a GPU machine")


def parts(rows: int, cols: int, group: int, seed: int, symmetric: bool = False, device: str = "cpu"):
    import torch

    from compressors.methods.torchao_gpu_tensors import int4_components

    weight = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)
    return {k: v.to(device) for k, v in int4_components(weight, group, symmetric=symmetric).items()}, weight


@pytest.mark.parametrize(("group", "symmetric"), [(32, False), (128, False), (256, False), (128, True)])
def test_pack_keeps_every_value_scale_and_zero_point(group: int, symmetric: bool) -> None:
    import torch

    from compressors.methods.torchao_gpu_tensors import int4_values

    stored, _ = parts(64, 512, group, seed=group, symmetric=symmetric)
    packed = pack(stored)
    assert packed["weight"].dtype == torch.int32 and packed["weight"].shape == (64, 512 // 8)
    assert packed["scale_zero"].dtype == torch.int32 and packed["scale_zero"].shape == (64, 512 // group)
    values, scale, zero = unpack(packed["weight"], packed["scale_zero"])
    assert torch.equal(values, int4_values(stored["qdata"]).to(torch.int32))
    assert torch.equal(scale, stored["scale"]) and torch.equal(zero, stored["zero_point"])
    assert bool((zero == 0).all()) == symmetric


def test_a_word_holds_neighbouring_inputs_as_the_kernel_pairs_them() -> None:
    import torch

    values = torch.arange(8, dtype=torch.uint8).repeat(1, 4)  # inputs 0..7, four times
    qdata = (values[:, ::2] << 4 | values[:, 1::2]).to(torch.uint8)  # the stored byte order
    scale = torch.ones(1, 1, dtype=torch.bfloat16)
    word = int(pack({"qdata": qdata, "scale": scale, "zero_point": scale * 0})["weight"][0, 0]) & 0xFFFFFFFF
    nibbles = [(word >> 4 * i) & 15 for i in range(8)]
    assert nibbles == list(WORD_ORDER) == [0, 2, 4, 6, 1, 3, 5, 7]  # input 2j in nibble j, 2j + 1 in nibble j + 4


def test_dequantize_matches_torchao_and_the_cpu_product_uses_it() -> None:
    import torch
    from torchao.quantization.quant_primitives import _dequantize_affine_tinygemm

    stored, weight = parts(96, 256, 64, seed=3)
    values = torch.stack((stored["qdata"] >> 4, stored["qdata"] & 15), dim=-1).reshape(96, -1).to(torch.int32)
    expected = _dequantize_affine_tinygemm(values, [1, 64], stored["scale"], stored["zero_point"], torch.int32, 0, 15,
                                           output_dtype=torch.float32)
    packed = pack(stored)
    ours = dequantize(packed["weight"], packed["scale_zero"], 64, torch.float32)
    assert float((ours - expected).abs().max()) < 1e-2
    assert float((ours - weight.float()).norm() / weight.float().norm()) < 0.15  # INT4 rounding, not noise
    x = torch.randn(3, 256).to(torch.bfloat16)
    out = int4_cuda_matmul(x, packed["weight"], packed["scale_zero"], 64, True)
    assert out.dtype == torch.bfloat16 and out.shape == (3, 96)
    reference = x.float() @ expected.T
    assert float((out.float() - reference).norm() / reference.norm()) < 1e-2


def test_the_cpu_layer_computes_what_the_dequantized_weight_does() -> None:
    import torch

    stored, weight = parts(48, 128, 32, seed=5)
    layer = Int4CudaLinear(stored, (48, 128), 32, bias=torch.ones(48, dtype=torch.bfloat16))
    x = torch.randn(2, 5, 128).to(torch.bfloat16)
    out = layer(x)
    assert out.shape == (2, 5, 48) and out.dtype == torch.bfloat16 and layer.zero
    reference = x.float() @ weight.float().T + 1
    assert float((out.float() - reference).norm() / reference.norm()) < 0.15
    assert "zero_points=True" in repr(layer)


@pytest.mark.parametrize(("module", "what"), [("int4_cuda", "INT4 CUDA kernels"), ("int4_marlin", "Marlin")])
def test_without_nvcc_each_built_kernel_says_what_to_do(monkeypatch: pytest.MonkeyPatch, module: str,
                                                       what: str) -> None:
    """Both go through ``kernels.build``; each names itself and the kernels that need no compiler."""
    import importlib

    from torch.utils import cpp_extension

    extension = importlib.import_module(f"compressors.kernels.{module}").extension
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)  # as on a machine without the CUDA toolkit
    extension.cache_clear()
    with pytest.raises(CompressionError, match=f"{what}.*nvcc.*kernel 'tinygemm' or 'triton'"):
        extension()
    extension.cache_clear()


@needs_cuda
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 8, 9, 16, 17, 64])
@pytest.mark.parametrize(("n", "k", "group"), [(256, 128, 128), (96, 352, 32), (4096, 4096, 128), (11008, 4096, 64),
                                               (4096, 11008, 128), (4098, 256, 256)])
@pytest.mark.parametrize("symmetric", [False, True])
def test_the_kernels_compute_the_dequantized_product_on_the_gpu(rows: int, n: int, k: int, group: int,
                                                                symmetric: bool) -> None:
    import torch

    stored, _ = parts(n, k, group, seed=rows + n, symmetric=symmetric, device="cuda")
    layer = Int4CudaLinear(stored, (n, k), group)
    assert layer.zero != symmetric
    x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows)).to(torch.float16).cuda()
    expected = x.double() @ dequantize(layer.weight, layer.scale_zero, group, torch.float64).T
    out = int4_cuda_matmul(x, layer.weight, layer.scale_zero, group, layer.zero)
    assert out.dtype == torch.bfloat16 and out.shape == (rows, n) and bool(torch.isfinite(out).all())
    assert float((out.double() - expected).norm() / expected.norm()) < 1e-2, f"rows {rows}, {n}x{k}"


@needs_cuda
@pytest.mark.parametrize("rows", [1, 2, 3, 8])
def test_every_launch_configuration_gives_the_product(rows: int) -> None:
    import torch

    from compressors.kernels.int4_cuda import gemv, launch_configs

    stored, _ = parts(1024, 4000 // 32 * 32 + 32 * 5, 32, seed=11, device="cuda")  # loads that U does not divide
    packed = pack(stored)
    k = packed["weight"].shape[1] * 8
    x = torch.randn(rows, k, device="cuda").to(torch.float16)
    expected = x.double() @ dequantize(packed["weight"], packed["scale_zero"], 32, torch.float64).T
    for config in launch_configs(rows):
        out = gemv(x, packed["weight"], packed["scale_zero"], 32, True, config)
        assert float((out.double() - expected).norm() / expected.norm()) < 5e-3, config


@needs_cuda
def test_the_layer_replays_in_a_cuda_graph_after_compile() -> None:
    import torch

    stored, _ = parts(512, 1024, 128, seed=9, device="cuda")
    module = Int4CudaLinear(stored, (512, 1024), 128)
    layer = torch.compile(module, dynamic=False)
    x = torch.randn(1, 1, 1024, device="cuda").to(torch.bfloat16)
    layer(x)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = layer(x)
    x.copy_(torch.randn_like(x))
    expected = x.double() @ dequantize(module.weight, module.scale_zero, 128, torch.float64).T
    graph.replay()
    torch.cuda.synchronize()
    assert out.dtype == torch.bfloat16
    assert float((out.double() - expected).norm() / expected.norm()) < 1e-2


def tiny_int4_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from compressors.methods.torchao_gpu_tensors import int4_components

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, attention_bias=True)
    model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear) and name != "lm_head":
                layer = Int4CudaLinear(int4_components(child.weight.detach(), 32), tuple(child.weight.shape), 32)
                layer.bias = child.bias
                setattr(module, name, layer)
    return model


def test_siblings_fused_compute_what_the_layers_did_eager_and_compiled() -> None:
    import torch
    from torch.profiler import profile

    from compressors.kernels.int4_cuda import Int4CudaSibling, fuse_siblings

    model = tiny_int4_llama()
    ids = torch.randint(0, 128, (1, 8), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        unfused = model(ids).logits
        assert fuse_siblings(model) == ["model.layers.0.self_attn: q_proj/k_proj/v_proj",
                                        "model.layers.0.mlp: gate_proj/up_proj",
                                        "model.layers.1.self_attn: q_proj/k_proj/v_proj",
                                        "model.layers.1.mlp: gate_proj/up_proj"]
        attention = model.model.layers[0].self_attn
        assert type(attention.k_proj) is Int4CudaSibling and attention.k_proj.bias is not None  # q/k/v biases kept
        assert torch.equal(model(ids).logits, unfused)
        assert attention.q_proj.siblings.last is None  # the last member let go of the activations
        # dynamo and AOT tracing are where a shared product could break the graph or be traced twice; inductor's
        # C++ code generation on top adds minutes on a CPU and nothing to check here
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        assert float((compiled(ids).logits.float() - unfused.float()).abs().max()) < 0.05
        with profile() as prof:
            compiled(ids)
    calls = sum(e.count for e in prof.key_averages() if e.key == "compressgate::int4_cuda_linear")
    assert calls == 2 * 4  # per layer: q/k/v, o, gate/up, down


def test_a_sibling_called_alone_computes_its_own_product() -> None:
    import torch

    from compressors.kernels.int4_cuda import fuse_siblings

    model = tiny_int4_llama()
    mlp = model.model.layers[0].mlp
    x = torch.randn(3, 64).to(torch.bfloat16)
    with torch.inference_mode():
        expected_up = mlp.up_proj(x)
        fuse_siblings(model)
        mlp.gate_proj(torch.randn(3, 64).to(torch.bfloat16))  # a different input tensor first
        assert torch.equal(mlp.up_proj(x), expected_up)
        assert torch.equal(mlp.up_proj(x.clone()), expected_up)


@pytest.mark.parametrize("rows", [1, 2, 3, 8])
@pytest.mark.parametrize(("n", "k"), [(4096, 4096), (22016, 4096), (4096, 11008), (4098, 256), (4097, 512)])
def test_the_launch_configuration_is_one_the_kernel_builds(rows: int, n: int, k: int) -> None:
    from compressors.kernels.int4_cuda import launch_config, launch_configs

    r, u = launch_config(rows, n, k)
    assert (r, u) in launch_configs(rows) and n % r == 0


@pytest.mark.parametrize(("rows", "config", "what"), [(9, None, "1-8 rows"), (1, (3, 1), "config"),
                                                      (4, (4, 2), "config"), (1, (4, 1), "out % outputs")])
def test_a_launch_the_kernel_does_not_take_is_refused_in_python(rows: int, config, what: str) -> None:
    import torch

    from compressors.kernels.int4_cuda import gemv

    with pytest.raises(ValueError, match=what):
        gemv(torch.zeros(rows, 64, dtype=torch.float16), torch.zeros(4098, 8, dtype=torch.int32),
             torch.zeros(4098, 2, dtype=torch.int32), 32, False, config)
