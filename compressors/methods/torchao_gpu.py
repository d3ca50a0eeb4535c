"""torchao quantization for GPU targets: INT4 weight-only (tinygemm), INT8 and FP8 weight-only or dynamic.

Why these five: decoding reads every weight once per token, so on a GPU the bytes per weight set the
speed, and each of these has a fused kernel in torch or torchao (``aten._weight_int4pack_mm``,
``aten._scaled_mm``, ``aten._int_mm``). Every ``nn.Linear`` (tied and ``exclude``-d ones aside) gets
quantized weights; everything else, and every activation, stays bfloat16.

Saved without pickle, as ``model.torchao.safetensors`` plus ``compressgate-torch.json``:

* INT8 and FP8 weights are torchao tensor subclasses (``Int8Tensor``, ``Float8Tensor``) flattened by
  torchao's own safetensors helpers: their plain tensors (int8 / float8 values, float32 row scales) go
  into the file, their attributes (block size, how activations are quantized, the matmul config) into
  its JSON header, from which torchao rebuilds only classes on its allow-list.
* INT4 is stored unpacked: tinygemm's tile-packed layout is made by a CUDA-only op and padded to the
  kernel's tiles, so the file holds the 4-bit values two to a byte with a bf16 scale and zero point per
  group (4 + 32/group bits per weight) and the loader packs them on the GPU. A CPU has no tinygemm kernel:
  there the loader dequantizes to bf16 (slow, same numbers), so CPU tests can still check quality.

All five quantize on CPU too, so a GPU target's artifact is built on a CPU machine and only its scoring
is skipped there. The manifest names the matmul kernels a profiled probe forward of the reloaded
artifact ran, and where. Loading builds the model in bf16 on the device first (peak memory: the bf16
model), then swaps in the quantized weights.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, require
from ..modelio import auto_class, copy_tokenizer, load_transformers
from ._torch_format import SCHEMES, parameter_elements, tied_weight_modules, write_layout
from .woq_stats import numel, tensor_bits, tensor_headers

SCHEME = "torchao"
WEIGHTS_FILE = "model.torchao.safetensors"
FORMAT_VERSION = 1  # in every layout: bump when what the handlers write changes
INT4_GROUP_SIZES = (32, 64, 128, 256)
# The matrix products that tell which path ran (first the quantized kernels, then plain bf16 products)
MATMUL_OPS = ("aten::_weight_int4pack_mm", "aten::_scaled_mm", "aten::_int_mm", "aten::_weight_int8pack_mm",
              "aten::mm", "aten::addmm", "aten::bmm")


@dataclass(frozen=True)
class TorchaoConfig(StepConfig):
    """Shared by the torchao methods: which linear layers stay in bfloat16."""

    exclude: tuple[str, ...] = ()  # module-name patterns kept in bf16, e.g. ["lm_head", "*.down_proj"]

    def __post_init__(self) -> None:
        for pattern in self.exclude:
            if not pattern.strip():
                raise ValueError("exclude: an empty module-name pattern would match nothing")


@dataclass(frozen=True)
class TorchaoInt4Config(TorchaoConfig):
    """INT4 weights, asymmetric per group of ``group_size`` inputs, run by tinygemm (Ampere or newer)."""

    group_size: int = 128  # 32, 64, 128 or 256 inputs share a bf16 scale and zero point

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.group_size not in INT4_GROUP_SIZES:
            raise ValueError(f"group_size = {self.group_size!r} is invalid: expected one of "
                             f"{', '.join(map(str, INT4_GROUP_SIZES))}")


@dataclass(frozen=True)
class TorchaoInt8WeightOnlyConfig(TorchaoConfig):
    """INT8 weights with one float32 scale per output row; bf16 activations."""


@dataclass(frozen=True)
class TorchaoInt8DynamicConfig(TorchaoConfig):
    """INT8 weights per row and INT8 activations quantized per token at run time (int8 matmul)."""


@dataclass(frozen=True)
class TorchaoFp8WeightOnlyConfig(TorchaoConfig):
    """FP8 (e4m3) weights with one scale per output row; bf16 activations."""


@dataclass(frozen=True)
class TorchaoFp8DynamicConfig(TorchaoConfig):
    """FP8 (e4m3) weights per row and activations quantized per row at run time (``_scaled_mm``, sm89+)."""


# --- quantizing one weight -----------------------------------------------------------------------------

def _int8(weight, dynamic: bool):
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8Tensor, PerRow
    from torchao.quantization.quantize_.workflows.int8.int8_tensor import QuantizeTensorToInt8Kwargs

    if not dynamic:
        return Int8Tensor.from_hp(weight, granularity=PerRow())
    config = Int8DynamicActivationInt8WeightConfig()  # torchao's defaults: symmetric, per row / per token
    act, wgt = Int8Tensor._normalize_granularity(config.granularity)
    kwargs = QuantizeTensorToInt8Kwargs(granularity=act, mapping_type=config.act_mapping_type)
    return Int8Tensor.from_hp(weight, granularity=wgt, act_quant_kwargs=kwargs)


def _fp8(weight, dynamic: bool):
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


def int4_components(weight, group_size: int) -> dict[str, Any]:
    """tinygemm's asymmetric INT4 of a [out, in] bf16 weight: values two to a byte, bf16 scale and zero."""
    import torch
    from torchao.quantization.quant_primitives import (
        MappingType, _choose_qparams_affine_tinygemm, _quantize_affine_tinygemm)

    block = (1, group_size)
    scale, zero = _choose_qparams_affine_tinygemm(weight, MappingType.ASYMMETRIC, block, torch.int32, 0, 15,
                                                  scale_dtype=torch.bfloat16, zero_point_dtype=torch.bfloat16)
    values = _quantize_affine_tinygemm(weight, list(block), scale, zero, torch.int32, 0, 15)
    packed = (values[:, ::2] << 4 | values[:, 1::2]).to(torch.uint8)  # the byte order tinygemm's packer reads
    rows = weight.shape[0]
    return {"qdata": packed.contiguous(), "scale": scale.reshape(rows, -1).contiguous(),
            "zero_point": zero.reshape(rows, -1).contiguous()}


def int4_weight(parts: dict[str, Any], shape: tuple[int, int], group_size: int):
    """The stored INT4 parts as tinygemm's packed tensor on a GPU, or dequantized to bf16 on CPU."""
    import torch
    from torchao.quantization.quant_primitives import _dequantize_affine_tinygemm

    qdata, scale, zero = parts["qdata"], parts["scale"], parts["zero_point"]
    rows, cols = shape
    if qdata.device.type == "cpu":
        values = torch.stack((qdata >> 4, qdata & 15), dim=-1).reshape(rows, cols).to(torch.int32)
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


# --- the handlers ---------------------------------------------------------------------------------------

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


def _cannot_run_on_cpu(kind: str) -> str | None:
    if kind == "fp8-dynamic" and not cpu_rowwise_fp8():
        return ("FP8 dynamic per row needs torch._scaled_mm with per-row scales, which this torch's CPU backend "
                "lacks; load it on a CUDA GPU of compute capability 8.9+")
    return None


def _targets(model, config: TorchaoConfig) -> list[str]:
    import torch

    tied = tied_weight_modules(model)  # an INT copy of a tied head would add bytes, not save them
    return [name for name, m in model.named_modules() if type(m) is torch.nn.Linear and name not in tied
            and not any(fnmatch.fnmatchcase(name, p) or name.endswith("." + p) for p in config.exclude)]


def _quantize(model_dir: Path, config: TorchaoConfig, out_dir: Path, context: Context, kind: str) -> Result:
    """Quantize every target layer (on CUDA when present), save, reload, profile a probe forward."""
    require("torchao", extra="torchao", purpose=f"torchao {kind} quantization")
    import torch
    from safetensors.torch import save_file
    from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

    model = load_transformers(model_dir, context.task, trust_remote_code=context.trust_remote_code,
                              dtype=torch.bfloat16)
    total = parameter_elements(model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    group = getattr(config, "group_size", None)
    layers, int4_parts, subclass_weights, skipped = {}, {}, {}, []
    with torch.no_grad():
        for name in _targets(model, config):
            weight = model.get_submodule(name).weight.detach()
            if kind == "int4-weight-only":
                if weight.shape[1] % group:
                    skipped.append(name)
                    continue
                parts = int4_components(weight, cast(int, group))  # TorchaoInt4Config, int4's config, has one
                int4_parts.update({f"{name}._weight_{k}": v for k, v in parts.items()})
            else:
                dynamic = kind.endswith("dynamic")
                q = _int8(weight, dynamic) if kind.startswith("int8") else _fp8(weight, dynamic)
                if q is None:
                    skipped.append(name)
                    continue
                subclass_weights[f"{name}.weight"] = q
            layers[name] = list(weight.shape)
    if not layers:
        raise CompressionError(f"torchao {kind} would quantize nothing: the model has no nn.Linear layer that "
                               f"fits (skipped: {skipped[:5]}, tied to the embedding or excluded: the rest)")
    plain, aliases = _plain_tensors(model, layers)
    tensors, metadata = flatten_tensor_state_dict({**plain, **subclass_weights})
    tensors = {k: v.detach().cpu().contiguous() for k, v in {**tensors, **int4_parts}.items()}
    save_file(tensors, str(out_dir / WEIGHTS_FILE), metadata=metadata)
    model.config.save_pretrained(str(out_dir))
    copy_tokenizer(model_dir, out_dir)
    write_layout(out_dir, SCHEME, kind=kind, version=FORMAT_VERSION, weights_file=WEIGHTS_FILE, layers=layers,
                 aliases=aliases, group_size=group, dtype="bfloat16",
                 torchao=__import__("torchao").__version__)
    reference = _probe_logits(model)
    del model, plain, subclass_weights, int4_parts, tensors  # the reload below needs the GPU memory back
    if device == "cuda":
        torch.cuda.empty_cache()
    counts = {**bit_counts(out_dir, layers, total), "kind": kind, "skipped_layers": skipped, "device": device}
    why_not = _cannot_run_on_cpu(kind) if device == "cpu" else None
    if why_not:  # built and counted here; checked where it can run
        return Result(ModelFormat.TORCH_QUANTIZED, {**counts, "kernel": f"not run here: {why_not}",
                                                    "kernel_device": device})
    layout = json.loads((out_dir / "compressgate-torch.json").read_text())
    reloaded = _load(out_dir, context.task, layout, context.trust_remote_code, device)
    ran = kernels_used(reloaded, _probe_inputs(reloaded))
    error = (_probe_logits(reloaded) - reference).norm() / reference.norm().clamp_min(1e-12)
    if not torch.isfinite(error):
        raise CompressionError(f"the reloaded torchao {kind} model computes non-finite logits")
    return Result(ModelFormat.TORCH_QUANTIZED, {**counts, **ran, "probe_logit_rel_error": round(float(error), 5)})


def _plain_tensors(model, layers: dict[str, list[int]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Every tensor of the state dict but the quantized weights; a tied tensor once, with its aliases."""
    quantized = {f"{n}.weight" for n in layers}
    plain: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, tuple[int, ...], Any], str] = {}  # (data pointer, shape, dtype) -> first key
    for key, value in model.state_dict().items():
        if key in quantized:
            continue
        ptr = (value.data_ptr(), tuple(value.shape), value.dtype)
        if ptr in seen:
            aliases[key] = seen[ptr]
            continue
        seen[ptr] = key
        plain[key] = value.detach()
    return plain, aliases


def bit_counts(artifact_dir: Path, layers: dict[str, list[int]], source_elements: int) -> dict[str, Any]:
    """Effective bits from what was written: every stored tensor of a quantized layer's weight over the
    elements of the weights it replaced, and every stored tensor over every weight of the source."""
    stored = tensor_headers(artifact_dir)
    prefixes = tuple(f"{n}._weight_" for n in layers)
    q_bits = sum(tensor_bits(*v) for k, v in stored.items() if k.startswith(prefixes))
    q_weights = sum(numel(tuple(shape)) for shape in layers.values())
    all_bits = sum(tensor_bits(*v) for v in stored.values())
    return {"quantized_layers": len(layers), "quantized_weight_share": round(q_weights / max(source_elements, 1), 4),
            "weight_bytes": all_bits // 8, "effective_bits_quantized_layers": round(q_bits / max(q_weights, 1), 4),
            "effective_bits_model": round(all_bits / max(source_elements, 1), 4)}


def _probe_inputs(model) -> dict[str, Any]:
    import torch

    ids = torch.randint(0, int(model.config.vocab_size), (2, 16), generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids.to(model.device)}


def _probe_logits(model):
    import torch

    with torch.inference_mode():
        return model(**_probe_inputs(model)).logits.float().cpu()


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
        def gpu_time(e) -> float:
            return float(getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0) or 0)

        gpu = sorted((e for e in events if gpu_time(e) > 0 and not e.key.startswith("aten::")), key=gpu_time)
        out["gpu_kernels"] = [e.key[:120] for e in reversed(gpu[-3:])]
    return out


def _handler(kind: str, summary: str):
    def handler(model_dir: Path, config: TorchaoConfig, out_dir: Path, context: Context) -> Result:
        return _quantize(model_dir, config, out_dir, context, kind)

    handler.__doc__ = summary
    return handler


for _kind, _config_cls, _summary in (
    ("int4-weight-only", TorchaoInt4Config, "torchao INT4 weight-only per group, tinygemm kernel (GPU sm80+; "
                                            "safetensors)"),
    ("int8-weight-only", TorchaoInt8WeightOnlyConfig, "torchao INT8 weight-only per row (GPU or CPU; safetensors)"),
    ("int8-dynamic", TorchaoInt8DynamicConfig, "torchao INT8 weights and dynamic INT8 activations (GPU or CPU; "
                                               "safetensors)"),
    ("fp8-weight-only", TorchaoFp8WeightOnlyConfig, "torchao FP8 e4m3 weight-only per row (GPU; safetensors)"),
    ("fp8-dynamic", TorchaoFp8DynamicConfig, "torchao FP8 e4m3 weights and dynamic per-row FP8 activations, "
                                             "_scaled_mm (GPU sm89+; safetensors)"),
):
    register(f"torchao-{_kind}", _config_cls, produces=ModelFormat.TORCH_QUANTIZED)(_handler(_kind, _summary))


# --- reading it back ------------------------------------------------------------------------------------

def _load(path: Path, task: str, layout: dict[str, Any], trust_remote_code: bool, device: str = "cpu"):
    """Build the architecture in bf16 on ``device``, load the plain tensors, swap in the quantized weights."""
    require("torchao", extra="torchao", purpose="Loading a torchao artifact")
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    from torchao.prototype.safetensors.safetensors_support import unflatten_tensor_state_dict
    from transformers import AutoConfig

    if layout.get("version") != FORMAT_VERSION:
        raise CompressionError(f"{path}: torchao artifact format {layout.get('version')!r}, this version reads "
                               f"{FORMAT_VERSION}; rebuild it")
    device = "cuda" if device == "auto" else device
    why_not = _cannot_run_on_cpu(layout["kind"]) if device == "cpu" else None
    if why_not:
        raise CompressionError(f"{path}: {why_not}")
    config = AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    with torch.device(device):
        model = auto_class(task).from_config(config, trust_remote_code=trust_remote_code, dtype=torch.bfloat16)
    file = str(path / layout["weights_file"])
    with safe_open(file, framework="pt") as handle:
        metadata = handle.metadata()
    state = load_file(file, device=device)
    layers: dict[str, list[int]] = layout["layers"]
    weights: dict[str, Any] = {}
    if layout["kind"] == "int4-weight-only":
        for name, (rows, cols) in layers.items():
            parts = {k: state.pop(f"{name}._weight_{k}") for k in ("qdata", "scale", "zero_point")}
            weights[name] = int4_weight(parts, (rows, cols), layout["group_size"])
    tensors, leftover = unflatten_tensor_state_dict(state, metadata)
    weights.update({name: tensors.pop(f"{name}.weight") for name in layers if f"{name}.weight" in tensors})
    missing_layers = sorted(set(layers) - set(weights))
    result = model.load_state_dict(tensors, strict=False)
    missing = sorted(set(result.missing_keys) - {f"{n}.weight" for n in layers} - set(layout.get("aliases", {})))
    if missing or result.unexpected_keys or leftover or missing_layers:
        raise CompressionError(f"{path}: stored tensors do not fit the architecture (missing {missing[:5]}, "
                               f"unexpected {sorted(result.unexpected_keys)[:5]}, unread {sorted(leftover)[:5]}, "
                               f"quantized layers without weights {missing_layers[:5]})")
    for name, weight in weights.items():
        module = model.get_submodule(name)
        module.weight = torch.nn.Parameter(weight, requires_grad=False)
    return model.eval()  # tied tensors (the aliases) share storage since from_config, so loading one filled both


SCHEMES.register(SCHEME, _load)
