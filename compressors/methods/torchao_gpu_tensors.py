"""Tensor-level pieces of the torchao GPU methods: one weight quantized to torchao's INT8 / FP8 tensors or
to tinygemm's INT4 parts, those parts packed for the GPU, and the profile that names the kernels a forward ran.

Used by the handlers in ``torchao_gpu`` (split out to keep that module short); every
function here imports torch and torchao inside, so importing the module is cheap.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

# The matrix products that tell which path ran (first the quantized kernels, then plain bf16 products)
MATMUL_OPS = ("compressgate::int4_linear", "compressgate::int4_cuda_linear", "compressgate::marlin_linear",
              "aten::_weight_int4pack_mm", "aten::_scaled_mm", "aten::_int_mm", "aten::_weight_int8pack_mm",
              "aten::mm", "aten::addmm", "aten::bmm")


# --- quantizing one weight -----------------------------------------------------------------------------

def int8_tensor(weight, dynamic: bool):
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8Tensor, PerRow
    from torchao.quantization.quantize_.workflows.int8.int8_tensor import QuantizeTensorToInt8Kwargs

    if not dynamic:
        return Int8Tensor.from_hp(weight, granularity=PerRow())
    config = Int8DynamicActivationInt8WeightConfig()  # torchao's defaults: symmetric, per row / per token
    act, wgt = Int8Tensor._normalize_granularity(config.granularity)
    kwargs = QuantizeTensorToInt8Kwargs(granularity=act, mapping_type=config.act_mapping_type)
    return Int8Tensor.from_hp(weight, granularity=wgt, act_quant_kwargs=kwargs)


INT8_MIN_ROWS = 32  # cuBLAS's int8 product (torch._int_mm) on CUDA refuses 16 rows or fewer


@functools.cache
def padded_rows_linear() -> type:
    """``nn.Linear`` for torchao INT8 dynamic weights on a GPU, its input padded with zero rows to
    ``INT8_MIN_ROWS``: torch._int_mm refuses 16 rows or fewer on CUDA, so a decoding step (a row per sequence)
    failed under torch.compile, and eager torchao fell back to a float32 product after copying to the host.
    Each row's activations are quantized on their own (per token), so the real rows' outputs are unchanged.
    Set as the ``__class__`` of a loaded ``nn.Linear``: its weights, hooks and state-dict keys stay."""
    import torch

    class PaddedRowsLinear(torch.nn.Linear):
        def forward(self, x):
            rows = x.numel() // x.shape[-1]  # a static shape under torch.compile(dynamic=False)
            if rows >= INT8_MIN_ROWS:
                return super().forward(x)
            padded = torch.nn.functional.pad(x.reshape(rows, x.shape[-1]), (0, 0, 0, INT8_MIN_ROWS - rows))
            return super().forward(padded)[:rows].reshape(*x.shape[:-1], self.out_features)

    return PaddedRowsLinear


def fp8_tensor(weight, dynamic: bool):
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, Float8Tensor, PerRow
    from torchao.quantization.quantize_.workflows import QuantizeTensorToFloat8Kwargs
    from torchao.quantization.utils import _fp8_mm_compat

    if not _fp8_mm_compat(weight):  # _scaled_mm wants both dimensions divisible by 16
        return None
    if not dynamic:
        return Float8Tensor.from_hp(weight, float8_dtype=__import__("torch").float8_e4m3fn, granularity=PerRow())
    # torchao's own config supplies the defaults (fast accumulation, kernel choice); its handler refuses
    # to run without an sm89 GPU, so the tensor is built here directly and the artifact builds on CPU too
    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    act, wgt = config.granularity
    kwargs = QuantizeTensorToFloat8Kwargs(config.activation_dtype, act, kernel_preference=config.kernel_preference)
    return Float8Tensor.from_hp(weight, float8_dtype=config.weight_dtype, granularity=wgt, mm_config=config.mm_config,
                                kernel_preference=config.kernel_preference, act_quant_kwargs=kwargs)


def int4_components(weight, group_size: int, symmetric: bool = False) -> dict[str, Any]:
    """tinygemm's asymmetric INT4 of a [out, in] bf16 weight: values two to a byte, bf16 scale and zero. With
    ``symmetric``, Marlin's: ``scale = max|w| / 7.5`` per group and a zero point of 0 (``w = (q - 8) * scale``),
    stored the same way, so every INT4 kernel reads it."""
    import torch

    rows = weight.shape[0]
    if symmetric:
        w = weight.float().reshape(rows, -1, group_size)
        scale = (w.abs().amax(-1) / 7.5).clamp_min(2**-14).to(torch.bfloat16)  # 2**-14: a normal fp16 number
        values = (torch.round(w / scale.float()[..., None]) + 8).clamp(0, 15).to(torch.int32).reshape(rows, -1)
        zero = torch.zeros_like(scale)
    else:
        from torchao.quantization.quant_primitives import (
            MappingType, _choose_qparams_affine_tinygemm, _quantize_affine_tinygemm)

        block = (1, group_size)
        scale, zero = _choose_qparams_affine_tinygemm(weight, MappingType.ASYMMETRIC, block, torch.int32, 0, 15,
                                                      scale_dtype=torch.bfloat16, zero_point_dtype=torch.bfloat16)
        values = _quantize_affine_tinygemm(weight, list(block), scale, zero, torch.int32, 0, 15)
    packed = (values[:, ::2] << 4 | values[:, 1::2]).to(torch.uint8)  # the byte order tinygemm's packer reads
    return {"qdata": packed.contiguous(), "scale": scale.reshape(rows, -1).contiguous(),
            "zero_point": zero.reshape(rows, -1).contiguous()}


def int4_values(qdata):
    """The inverse of ``int4_components``' packing: one 4-bit value (0..15) per input, ``[out, in]`` uint8."""
    import torch

    return torch.stack((qdata >> 4, qdata & 15), dim=-1).reshape(qdata.shape[0], -1)


def int4_words(values):
    """Eight 4-bit values (0..15) along the last dimension to an int32 word, value ``i`` in bits ``4i..4i+3``
    (the layout of the INT4 kernels, ``kernels.int4_triton``, ``kernels.int4_marlin`` and ``kernels.int4_cuda``)."""
    import torch

    shifts = 4 * torch.arange(8, device=values.device, dtype=torch.int64)
    words = (values.to(torch.int64) << shifts).sum(-1)
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)  # the same 32 bits, signed


def word_values(words):
    """``int4_words``' inverse: each int32 word's eight 4-bit values along a new last dimension (int32)."""
    import torch

    shifts = 4 * torch.arange(8, device=words.device, dtype=torch.int32)
    return (words[..., None] >> shifts) & 15


def int4_weight(parts: dict[str, Any], shape: tuple[int, int], group_size: int):
    """The stored INT4 parts as tinygemm's packed tensor on a GPU, or dequantized to bf16 on CPU."""
    import torch
    from torchao.quantization.quant_primitives import _dequantize_affine_tinygemm

    qdata, scale, zero = parts["qdata"], parts["scale"], parts["zero_point"]
    rows, cols = shape
    if qdata.device.type == "cpu":
        values = int4_values(qdata).to(torch.int32)
        return _dequantize_affine_tinygemm(values, (1, group_size), scale, zero, torch.int32, 0, 15,
                                           output_dtype=torch.bfloat16)
    from torchao.quantization import Int4TilePackedTo4dTensor
    from torchao.quantization.utils import pack_tinygemm_scales_and_zeros

    # tinygemm's tiles: rows to a multiple of 8, inputs to a multiple of 1024 (as torchao pads); the padded
    # inputs meet zero-padded activations, so their (zero) values and scales never reach the output
    pad_rows, pad_cols = -rows % 8, -cols % 1024
    qdata = torch.nn.functional.pad(qdata, (0, pad_cols // 2, 0, pad_rows))
    scale, zero = (torch.nn.functional.pad(t, (0, pad_cols // group_size, 0, pad_rows)) for t in (scale, zero))
    packed = torch.ops.aten._convert_weight_to_int4pack(qdata.contiguous(), 8)
    return Int4TilePackedTo4dTensor(packed, pack_tinygemm_scales_and_zeros(scale, zero, torch.bfloat16),
                                    [1, group_size], torch.Size(shape))


@functools.lru_cache(maxsize=1)
def cpu_rowwise_fp8() -> bool:
    """Whether this torch's CPU ``_scaled_mm`` takes per-row scales (FP8 dynamic needs them; torch 2.11's
    CPU backend takes per-tensor scales only, CUDA sm89+ takes both)."""
    import torch

    a = torch.ones(16, 16).to(torch.float8_e4m3fn)
    try:
        torch._scaled_mm(a, a.t(), scale_a=torch.ones(16, 1), scale_b=torch.ones(1, 16), out_dtype=torch.bfloat16)
    except (RuntimeError, NotImplementedError):
        return False
    return True


def kernels_used(model, inputs: dict[str, Any]) -> dict[str, Any]:
    """The matrix-product ops one forward pass ran (profiled), and on a GPU its three costliest kernels."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = str(model.device).startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.inference_mode(), profile(activities=activities) as prof:
        model(**inputs)
        if cuda:
            torch.cuda.synchronize()
    events = prof.key_averages()
    ops = Counter({e.key: e.count for e in events if e.key in MATMUL_OPS or e.key.startswith("mslk::")})
    out: dict[str, Any] = {"kernel": ", ".join(f"{op} x{n}" for op, n in sorted(ops.items(), key=lambda kv: -kv[1])),
                           "kernel_device": str(model.device)}
    if cuda:
        out["gpu_kernels"] = [e.key[:120] for e, _ in gpu_kernels(events)[:3]]
    return out


def gpu_kernels(events) -> list[tuple[Any, float]]:
    """The GPU kernels among a profile's ``key_averages()``, costliest first, with their GPU time; an op's own
    row (``aten::mm``, ``compressgate::int4_linear``) is left out, as it carries its kernels' time again, and
    so is the host-side row of a kernel that has a GPU row of its own name (inductor's Triton launches)."""
    from torch.autograd import DeviceType

    def gpu_time(e) -> float:
        return float(getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0) or 0)

    def on_gpu(e) -> bool:
        return getattr(e, "device_type", None) == DeviceType.CUDA

    gpu_keys = {e.key for e in events if on_gpu(e)}
    timed = [(e, gpu_time(e)) for e in events if not e.key.startswith(("aten::", "compressgate::"))
             and (on_gpu(e) or e.key not in gpu_keys)]
    return sorted(((e, t) for e, t in timed if t > 0), key=lambda et: -et[1])
