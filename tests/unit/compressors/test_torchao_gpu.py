"""torchao GPU methods: configs, the pickle-free artifact, its honest bit counts, and reloading it.

Every method quantizes on CPU too, so the artifact tests run everywhere on a small trained Llama (INT4
reloads dequantized there). The tests marked ``needs_cuda`` reload on the GPU and check the kernel that
ran; without a CUDA GPU they are skipped with that reason, and they run for real on a GPU machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compressors import CompressionError, ConfigError, Context, compress, parse_step
from compressors.methods.torchao_gpu import cpu_rowwise_fp8
from compressors.methods.torchao_gpu_tensors import INT8_MIN_ROWS, padded_rows_linear
from pytest_compressgate.targets import PRESETS, Machine, detect_machine

pytest.importorskip("torchao", reason="the torchao methods need torchao (pip install 'pytest-compressgate[torchao]')")

CAUSAL = Context(model_task="causal-lm", hardware="cuda-sm90")
HIDDEN, INTERMEDIATE, LAYERS = 128, 256, 2
METHODS = ("torchao-int4-weight-only", "torchao-int8-weight-only", "torchao-int8-dynamic",
           "torchao-fp8-weight-only", "torchao-fp8-dynamic")
GPU_KERNEL = {"torchao-int4-weight-only": "aten::_weight_int4pack_mm", "torchao-fp8-dynamic": "aten::_scaled_mm"}
NO_CUDA = bool(PRESETS.get("cuda").missing(detect_machine()))
needs_cuda = pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU: run this file on a GPU machine")
HOPPER = Machine(arch="x86_64", cpu_flags=frozenset(), cuda_devices=("NVIDIA H200",), cuda_capabilities=((9, 0),))
AMPERE = Machine(arch="x86_64", cpu_flags=frozenset(), cuda_devices=("NVIDIA A100",), cuda_capabilities=((8, 0),))


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Llama trained for a few steps; it must have learned (perplexity far under the vocabulary's)."""
    from compressors.loaders import load_model, load_tokenizer
    from tests.tinymodels import causal_lm_perplexity, heldout_texts, tiny_llama

    path = tiny_llama(tmp_path_factory.mktemp("torchao-src") / "llama", hidden=HIDDEN, intermediate=INTERMEDIATE,
                      layers=LAYERS, heads=4, kv_heads=4, train_steps=40)
    tokenizer = load_tokenizer(path)
    ppl = causal_lm_perplexity(load_model(path, task="causal-lm"), tokenizer, heldout_texts(16))
    assert ppl < len(tokenizer) / 2, f"the tiny Llama did not learn: perplexity {ppl:.0f} of {len(tokenizer)} tokens"
    return path


@pytest.fixture(scope="module")
def artifacts(llama: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("torchao-out")
    return {m: compress(llama, {"method": m}, out / m, context=CAUSAL) for m in METHODS}


def perplexity(path: Path, device: str = "cpu") -> float:
    from compressors.loaders import load_model, load_tokenizer
    from tests.tinymodels import causal_lm_perplexity, heldout_texts

    return causal_lm_perplexity(load_model(path, task="causal-lm", device=device), load_tokenizer(path),
                                heldout_texts(16))


# --- configs --------------------------------------------------------------------------------------------

def test_a_kernel_is_counted_once_not_again_for_its_host_side_launch() -> None:
    """A profile lists an inductor Triton kernel twice: its launch on the host (carrying the kernel's GPU time)
    and the kernel on the GPU. Counted once; an op's own row is left out; costliest first."""
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    from compressors.methods.torchao_gpu_tensors import gpu_kernels

    def row(key: str, device: DeviceType, us: float) -> SimpleNamespace:
        return SimpleNamespace(key=key, device_type=device, self_device_time_total=us, count=32)

    events = [row("aten::mm", DeviceType.CPU, 9.0), row("triton_red_fused_mm_6", DeviceType.CPU, 5.0),
              row("triton_red_fused_mm_6", DeviceType.CUDA, 5.0), row("gemv_kernel<1, 4, 1>", DeviceType.CUDA, 7.0),
              row("cudaLaunchKernel", DeviceType.CPU, 0.0)]
    assert [(e.key, e.device_type, t) for e, t in gpu_kernels(events)] == [
        ("gemv_kernel<1, 4, 1>", DeviceType.CUDA, 7.0), ("triton_red_fused_mm_6", DeviceType.CUDA, 5.0)]


@pytest.mark.parametrize(("step", "key"), [
    ({"method": "torchao-int4-weight-only", "group_size": 100}, "group_size"),
    ({"method": "torchao-int4-weight-only", "group_sise": 128}, "group_size"),
    ({"method": "torchao-int4-weight-only", "kernel": "machete"}, "kernel"),
    ({"method": "torchao-int4-weight-only", "kernel": "marlin", "group_size": 64}, "group_size"),
    ({"method": "torchao-int8-dynamic", "exclude": [" "]}, "exclude"),
    ({"method": "torchao-fp8-dynamic", "granularity": "per-tensor"}, "granularity"),
])
def test_bad_params_raise_one_line_config_errors_naming_the_key(step: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key) as info:
        parse_step(step)
    assert "\n" not in str(info.value)


def test_defaults_are_int4_group_128_and_nothing_excluded() -> None:
    _, config = parse_step({"method": "torchao-int4-weight-only"})
    assert config.group_size == 128 and config.exclude == () and config.kernel == "tinygemm"


def test_cuda_sm90_preset_needs_a_hopper_gpu() -> None:
    preset = PRESETS.get("cuda-sm90")
    assert preset.cuda and preset.min_compute_capability == (9, 0)
    assert preset.missing(HOPPER) == []
    assert preset.missing(AMPERE) == ["a GPU of compute capability 9.0+ (best here: 8.0)"]
    assert preset.missing(Machine(arch="x86_64", cpu_flags=frozenset())) == ["a CUDA GPU"]


# --- artifacts (CPU) ------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_artifact_is_pickle_free_and_counts_its_bits(method: str, artifacts: dict, llama: Path, pickle_free) -> None:
    from compressors.methods.woq_stats import tensor_headers

    artifact = artifacts[method]
    pickle_free(artifact.path)
    stats = artifact.stats
    assert stats["quantized_layers"] == 7 * LAYERS + 1  # q, k, v, o, gate, up, down per layer, and the head
    source = tensor_headers(llama)
    linear = [k for k in source if k.endswith("proj.weight") or k == "lm_head.weight"]
    n_weights = sum(source[k][1][0] * source[k][1][1] for k in linear)
    if method == "torchao-int4-weight-only":  # 4-bit values, a bf16 scale and zero point per 128 inputs
        assert stats["effective_bits_quantized_layers"] == 4.25
    else:  # 8 bits a weight, a float32 scale per output row, and for INT8 torchao's int8 zero point per row
        rows = sum(source[k][1][0] for k in linear)
        per_row = 40 if "int8" in method else 32
        assert stats["effective_bits_quantized_layers"] == pytest.approx((8 * n_weights + per_row * rows) / n_weights,
                                                                       abs=1e-4)
    assert stats["kernel"] and stats["kernel_device"].startswith(stats["device"])
    if stats["kernel"].startswith("not run here"):  # FP8 dynamic built on a CPU whose torch cannot run it
        assert method == "torchao-fp8-dynamic" and stats["device"] == "cpu" and not cpu_rowwise_fp8()
    else:
        assert 0 < stats["probe_logit_rel_error"] < 0.1  # really quantized, not by much
    layout = json.loads((artifact.path / "compressgate-torch.json").read_text())
    assert layout["scheme"] == "torchao" and layout["kind"] == method.removeprefix("torchao-")


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_reloads_quantized_and_keeps_perplexity(method: str, artifacts: dict, llama: Path) -> None:
    import torch

    from compressors.loaders import load_model

    if method == "torchao-fp8-dynamic" and not cpu_rowwise_fp8():
        with pytest.raises(CompressionError, match="per-row scales"):
            load_model(artifacts[method].path, task="causal-lm")
        pytest.skip("this torch's CPU _scaled_mm has no per-row scales: FP8 dynamic runs on the GPU only here")
    model = load_model(artifacts[method].path, task="causal-lm")
    weight = model.get_submodule("model.layers.0.mlp.down_proj").weight
    if method == "torchao-int4-weight-only":  # no tinygemm on CPU: dequantized, 16 levels per group
        assert weight.dtype == torch.bfloat16 and len(torch.unique(weight[0, :128])) <= 16
    else:
        assert type(weight).__name__ in ("Int8Tensor", "Float8Tensor")
    assert perplexity(artifacts[method].path) <= 1.05 * perplexity(llama)


@pytest.mark.parametrize("rows", [1, 5, 16, INT8_MIN_ROWS + 8])  # padded, and one passed through as it is
def test_int8_dynamic_rows_padded_for_cublas_give_the_unpadded_outputs(artifacts: dict, rows: int) -> None:
    import torch

    from compressors.loaders import load_model

    layer = load_model(artifacts["torchao-int8-dynamic"].path, task="causal-lm").get_submodule(
        "model.layers.0.mlp.down_proj")
    assert type(layer) is torch.nn.Linear  # on a CPU torch._int_mm takes any rows: nothing is padded
    x = torch.randn(1, rows, INTERMEDIATE, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16)
    with torch.inference_mode():
        plain = layer(x)
        layer.__class__ = padded_rows_linear()
        padded = layer(x)
    assert padded.shape == plain.shape == (1, rows, HIDDEN) and plain.abs().max() > 0
    torch.testing.assert_close(padded, plain, rtol=0, atol=0)


@pytest.mark.slow
def test_exclude_keeps_layers_in_bf16(llama: Path, tmp_path: Path) -> None:
    import torch

    from compressors.loaders import load_model

    artifact = compress(llama, {"method": "torchao-int8-weight-only", "exclude": ["lm_head", "*.down_proj"]},
                        tmp_path / "art", context=CAUSAL)
    assert artifact.stats["quantized_layers"] == 6 * LAYERS
    model = load_model(artifact.path, task="causal-lm")
    assert type(model.lm_head.weight) is torch.nn.Parameter and model.lm_head.weight.dtype == torch.bfloat16


@pytest.mark.slow
def test_nothing_to_quantize_is_refused(llama: Path, tmp_path: Path) -> None:
    with pytest.raises(CompressionError, match="would quantize nothing"):
        compress(llama, {"method": "torchao-fp8-dynamic", "exclude": ["*"]}, tmp_path / "art", context=CAUSAL)


@pytest.mark.slow
def test_an_artifact_of_another_format_version_is_refused(artifacts: dict, tmp_path: Path) -> None:
    import shutil

    from compressors.loaders import load_model

    copy = shutil.copytree(artifacts["torchao-int8-dynamic"].path, tmp_path / "old")
    layout = json.loads((copy / "compressgate-torch.json").read_text())
    (copy / "compressgate-torch.json").write_text(json.dumps({**layout, "version": 0}))
    with pytest.raises(CompressionError, match="rebuild it"):
        load_model(copy, task="causal-lm")


# --- on the GPU -----------------------------------------------------------------------------------------

@needs_cuda
def test_this_gpu_is_detected_with_its_compute_capability() -> None:
    import torch

    machine = detect_machine()
    major, minor = torch.cuda.get_device_capability()
    assert max(machine.cuda_capabilities) >= (major, minor)
    assert (PRESETS.get("cuda-sm90").missing(machine) == []) == ((major, minor) >= (9, 0))


@needs_cuda
@pytest.mark.parametrize("method", METHODS)
def test_gpu_artifact_runs_its_kernel_on_the_gpu_and_keeps_perplexity(method: str, artifacts: dict,
                                                                      llama: Path) -> None:
    import torch

    from compressors.loaders import load_model

    stats = artifacts[method].stats
    assert stats["device"] == "cuda" and stats["kernel_device"].startswith("cuda") and stats["gpu_kernels"]
    if method in GPU_KERNEL:
        assert GPU_KERNEL[method] in stats["kernel"], stats["kernel"]
    model = load_model(artifacts[method].path, task="causal-lm", device="cuda")
    assert str(model.device).startswith("cuda")
    assert perplexity(artifacts[method].path, "cuda") <= 1.05 * perplexity(llama)
    if method == "torchao-int4-weight-only":  # the packed GPU weights compute what the stored values say
        cpu = load_model(artifacts[method].path, task="causal-lm", device="cpu")
        ids = torch.randint(0, cpu.config.vocab_size, (2, 32), generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            a = cpu(input_ids=ids).logits.float()
            b = model(input_ids=ids.cuda()).logits.float().cpu()
        assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.999


@needs_cuda
@pytest.mark.parametrize("batch", [1, 16])
def test_int8_dynamic_decodes_as_a_compiled_cuda_graph_on_the_gpu(artifacts: dict, batch: int) -> None:
    """torch._int_mm refuses 16 rows or fewer on CUDA: unpadded, the step fell back to eager torchao, which
    copies each product's input to the host."""
    from compressors.loaders import load_model
    from pytest_compressgate.decoding import Decoder

    model = load_model(artifacts["torchao-int8-dynamic"].path, task="causal-lm", device="cuda")
    assert type(model.get_submodule("model.layers.0.mlp.down_proj")).__name__ == "PaddedRowsLinear"
    decoder = Decoder(model, batch, new_tokens=6, compile_mode="default")
    assert decoder.path == "cuda-graph of the compiled step"
    same, steps = map(int, decoder.agreement().split("/"))  # near ties may round either way in int8
    assert same >= steps - 2, decoder.agreement()


def test_the_int4_kernel_is_recorded_and_the_triton_one_reloads_as_bf16_on_cpu(llama: Path, tmp_path: Path) -> None:
    import torch

    from compressors.loaders import load_model

    artifact = compress(llama, {"method": "torchao-int4-weight-only", "kernel": "triton"}, tmp_path / "triton",
                        context=CAUSAL)
    assert json.loads((artifact.path / "compressgate-torch.json").read_text())["kernel"] == "triton"
    down = load_model(artifact.path, task="causal-lm").get_submodule("model.layers.0.mlp.down_proj")
    assert type(down) is torch.nn.Linear and down.weight.dtype == torch.bfloat16  # no Triton on a CPU


@needs_cuda
def test_the_triton_int4_kernel_runs_on_the_gpu_and_keeps_perplexity(llama: Path, tmp_path: Path) -> None:
    from compressors.loaders import load_model

    artifact = compress(llama, {"method": "torchao-int4-weight-only", "kernel": "triton"}, tmp_path / "triton",
                        context=CAUSAL)
    assert "compressgate::int4_linear" in artifact.stats["kernel"], artifact.stats["kernel"]
    down = load_model(artifact.path, task="causal-lm", device="cuda").get_submodule("model.layers.0.mlp.down_proj")
    assert type(down).__name__ == "Int4Linear" and down.words.is_cuda
    assert perplexity(artifact.path, "cuda") <= 1.05 * perplexity(llama)


def test_the_marlin_artifact_is_symmetric_and_keeps_perplexity_on_cpu(llama: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    artifact = compress(llama, {"method": "torchao-int4-weight-only", "kernel": "marlin"}, tmp_path / "marlin",
                        context=CAUSAL)
    layout = json.loads((artifact.path / "compressgate-torch.json").read_text())
    assert layout["kernel"] == "marlin" and layout["symmetric"] is True
    zeros = [t for k, t in load_file(artifact.path / "model.torchao.safetensors").items() if k.endswith("_zero_point")]
    assert zeros and not any(bool(t.any()) for t in zeros)
    assert artifact.stats["effective_bits_quantized_layers"] == 4.25
    assert perplexity(artifact.path) <= 1.10 * perplexity(llama)  # dequantized on a CPU: the same numbers


@needs_cuda
def test_the_marlin_int4_kernel_runs_on_the_gpu_where_it_fits_and_keeps_perplexity(llama: Path,
                                                                                     tmp_path: Path) -> None:
    from compressors.loaders import load_model

    artifact = compress(llama, {"method": "torchao-int4-weight-only", "kernel": "marlin"}, tmp_path / "marlin",
                        context=CAUSAL)
    assert "compressgate::marlin_linear" in artifact.stats["kernel"], artifact.stats["kernel"]
    model = load_model(artifact.path, task="causal-lm", device="cuda")
    gate, down = (model.get_submodule(f"model.layers.0.mlp.{n}") for n in ("gate_proj", "down_proj"))
    assert type(gate).__name__ == "MarlinLinear" and gate.weight.is_cuda  # [256, 128]: Marlin's tiles
    assert type(down).__name__ == "Int4Linear"  # [128, 256]: out % 256 != 0, so the Triton kernels
    assert perplexity(artifact.path, "cuda") <= 1.10 * perplexity(llama)


@needs_cuda
def test_the_cuda_int4_kernel_runs_on_the_gpu_and_keeps_perplexity(llama: Path, tmp_path: Path) -> None:
    from compressors.loaders import load_model

    artifact = compress(llama, {"method": "torchao-int4-weight-only", "kernel": "cuda"}, tmp_path / "cuda",
                        context=CAUSAL)
    assert "compressgate::int4_cuda_linear" in artifact.stats["kernel"], artifact.stats["kernel"]
    assert artifact.stats["effective_bits_quantized_layers"] == 4.25
    model = load_model(artifact.path, task="causal-lm", device="cuda")
    down = model.get_submodule("model.layers.0.mlp.down_proj")
    assert type(down).__name__ == "Int4CudaLinear" and down.weight.is_cuda and down.zero  # asymmetric
    assert perplexity(artifact.path, "cuda") <= 1.05 * perplexity(llama)


# --- in the gate ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_hopper_target_is_built_anywhere_and_scored_only_on_a_hopper_gpu(
        pytester: pytest.Pytester, tiny_classifier_dir: Path, tiny_test_data: Path, tmp_path: Path) -> None:
    """A CPU machine builds the artifact and skips its scoring with the reason; a Hopper GPU scores it."""
    from tests.tinymodels import gate_toml, target_toml

    pytester.makepyprojecttoml(gate_toml(model=tiny_classifier_dir, cache=tmp_path / "cache", data=tiny_test_data,
                                         extra=target_toml("gpu-int8", "cuda-sm90", "torchao-int8-dynamic")))
    result = pytester.runpytest_subprocess("--compress-gate", "-rs", "-p", "no:cacheprovider",
                                           "--compress-gate-targets=gpu-int8")
    missing = PRESETS.get("cuda-sm90").missing(detect_machine())
    if missing:
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines([f"*scoring target 'gpu-int8' needs cuda-sm90: this machine lacks {missing[0]}"
                                     "; artifact built at*"])
        (manifest,) = (tmp_path / "cache").rglob("compressgate-manifest.json")
        assert json.loads(manifest.read_text())["method"] == "torchao-int8-dynamic"
    else:
        result.assert_outcomes(passed=1)
