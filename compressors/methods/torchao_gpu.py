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
  group (4 + 32/group bits per weight). On a GPU the loader packs them for tinygemm (``kernel =
  "tinygemm"``, the default), repacks them for the Triton kernels of ``kernels.int4_triton``
  (``kernel = "triton"``) or for Marlin (``kernel = "marlin"``, ``kernels.int4_marlin``: symmetric
  groups of 128, zero points 0). A CPU has none of these: there the loader dequantizes to bf16 (slow,
  same numbers), so CPU tests can still check quality.

All five quantize on CPU too, so a GPU target's artifact is built on a CPU machine and only its scoring
is skipped there. The manifest names the matmul kernels a profiled probe forward of the reloaded
artifact ran, and where. Loading builds the model in bf16 on the device first (peak memory: the bf16
model), then swaps in the quantized weights.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, require
from ..modelio import auto_class, copy_tokenizer, load_transformers
from ._torch_format import SCHEMES, SchemeLoader, parameter_elements, tied_weight_modules, write_layout
from .torchao_gpu_tensors import (cpu_rowwise_fp8, fp8_tensor, int4_components, int4_weight, int8_tensor, kernels_used,
                                  padded_rows_linear)
from .woq_stats import numel, tensor_bits, tensor_headers

SCHEME = "torchao"
WEIGHTS_FILE = "model.torchao.safetensors"
FORMAT_VERSION = 1  # in every layout: bump when what the handlers write changes
INT4_GROUP_SIZES = (32, 64, 128, 256)
# In the cache keys of a method's artifacts and all that is measured on them (1 where not listed). int4 2: the
# layout records ``symmetric`` (kernel "marlin"), and the Triton kernels it loads with changed. int8-dynamic 2:
# loaded on a GPU with a decoding step's rows padded (``padded_rows_linear``), so its steps compile.
METHOD_VERSIONS = {"int4-weight-only": 2, "int8-dynamic": 2}
MARLIN_GROUP_SIZE = 128  # kernels.int4_marlin.GROUP_SIZE (not imported here: that module imports torch)
INT4_KERNELS = ("tinygemm", "triton", "marlin", "cuda")
INT4_TRITON_PATHS = ("compressgate::int4_linear: 1 row Triton GEMV (int4_triton_jit.gemv), 2-16 rows Triton fused "
                     "INT4 GEMM (gemm), more rows Triton dequantize + aten::mm")
INT4_CUDA_PATHS = ("compressgate::int4_cuda_linear: 1-8 rows CUDA GEMV (kernels/cuda/int4_gemv.cu, fp16 "
                   "activations), more rows CUDA dequantize + aten::mm, for every layer it takes (in % 32), "
                   "q/k/v and gate/up stacked into one product each; any other INT4 layer: " + INT4_TRITON_PATHS)
INT4_MARLIN_PATHS = ("compressgate::marlin_linear: Marlin (kernels/marlin, fp16 activations) for every layer it "
                     "takes (in % 128, out % 256); any other INT4 layer: " + INT4_TRITON_PATHS)


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
    """INT4 weights per group of ``group_size`` inputs, run on a GPU by ``kernel``: "tinygemm" (torch's
    ``_weight_int4pack_mm``; asymmetric), "triton" (``kernels.int4_triton``; asymmetric; much faster than
    tinygemm on prompts), "marlin" (``kernels.int4_marlin``, built with nvcc on first use; symmetric groups
    of 128; the fastest at 16 token rows) or "cuda" (``kernels.int4_cuda``, compressgate's CUDA GEMV, built
    with nvcc on first use; asymmetric; the fastest at 1-4 rows: a compiled 7B decoded at 1.85x bf16 on an
    H200). benchmarks/results/torchao_gpu.txt has the figures."""

    group_size: int = 128  # 32, 64, 128 or 256 inputs share a bf16 scale (and zero point); marlin: 128
    kernel: str = "tinygemm"  # "tinygemm", "triton", "marlin" (symmetric, nvcc) or "cuda" (nvcc): the GPU kernel

    def __post_init__(self) -> None:
        super().__post_init__()
        check_group_size(self.group_size)
        if self.kernel not in INT4_KERNELS:
            raise ValueError(f"kernel = {self.kernel!r} is invalid: expected one of {', '.join(INT4_KERNELS)}")
        if self.kernel == "marlin" and self.group_size != MARLIN_GROUP_SIZE:
            raise ValueError(f"group_size = {self.group_size} is invalid with kernel = 'marlin': Marlin's groups "
                             f"are {MARLIN_GROUP_SIZE} inputs")


def check_group_size(group_size: int) -> None:
    if group_size not in INT4_GROUP_SIZES:
        raise ValueError(f"group_size = {group_size!r} is invalid: expected one of "
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


# --- the handlers ---------------------------------------------------------------------------------------

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


def quantize(model_dir: Path, config: TorchaoConfig, out_dir: Path, context: Context, kind: str,
             scheme: str = SCHEME, loader: SchemeLoader | None = None) -> Result:
    """Quantize every target layer (on CUDA when present), save, reload (by ``loader``, the one registered
    for ``scheme``), profile a probe forward."""
    require("torchao", extra="torchao", purpose=f"torchao {kind} quantization")
    import torch
    from safetensors.torch import save_file
    from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

    model = load_transformers(model_dir, context.model_task, trust_remote_code=context.trust_remote_code,
                              dtype=torch.bfloat16)
    total = parameter_elements(model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    group = getattr(config, "group_size", None)
    symmetric = getattr(config, "kernel", None) == "marlin"  # Marlin's arithmetic has no zero point
    layers, int4_parts, subclass_weights, skipped = {}, {}, {}, []
    with torch.no_grad():
        for name in _targets(model, config):
            weight = model.get_submodule(name).weight.detach()
            if kind == "int4-weight-only":
                if weight.shape[1] % group:
                    skipped.append(name)
                    continue
                parts = int4_components(weight, cast(int, group), symmetric)  # TorchaoInt4Config has a group
                int4_parts.update({f"{name}._weight_{k}": v for k, v in parts.items()})
            else:
                dynamic = kind.endswith("dynamic")
                q = int8_tensor(weight, dynamic) if kind.startswith("int8") else fp8_tensor(weight, dynamic)
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
    write_layout(out_dir, scheme, kind=kind, version=FORMAT_VERSION, weights_file=WEIGHTS_FILE, layers=layers,
                 aliases=aliases, group_size=group, dtype="bfloat16", kernel=getattr(config, "kernel", None),
                 symmetric=symmetric,
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
    reloaded = (loader or load)(out_dir, context.model_task, layout, context.trust_remote_code, device)
    ran = kernels_used(reloaded, _probe_inputs(reloaded))
    paths = {"triton": INT4_TRITON_PATHS, "marlin": INT4_MARLIN_PATHS,
             "cuda": INT4_CUDA_PATHS}.get(layout.get("kernel") or "")
    if paths and device != "cpu":
        ran["kernel_paths"] = paths
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


def _handler(kind: str, summary: str):
    def handler(model_dir: Path, config: TorchaoConfig, out_dir: Path, context: Context) -> Result:
        return quantize(model_dir, config, out_dir, context, kind)

    handler.__doc__ = summary
    return handler


for _kind, _config_cls, _summary in (
    ("int4-weight-only", TorchaoInt4Config, "torchao INT4 weight-only per group, tinygemm, Triton or Marlin "
                                            "kernels (GPU sm80+; safetensors)"),
    ("int8-weight-only", TorchaoInt8WeightOnlyConfig, "torchao INT8 weight-only per row (GPU or CPU; safetensors)"),
    ("int8-dynamic", TorchaoInt8DynamicConfig, "torchao INT8 weights and dynamic INT8 activations (GPU or CPU; "
                                               "safetensors)"),
    ("fp8-weight-only", TorchaoFp8WeightOnlyConfig, "torchao FP8 e4m3 weight-only per row (GPU; safetensors)"),
    ("fp8-dynamic", TorchaoFp8DynamicConfig, "torchao FP8 e4m3 weights and dynamic per-row FP8 activations, "
                                             "_scaled_mm (GPU sm89+; safetensors)"),
):
    register(f"torchao-{_kind}", _config_cls, produces=ModelFormat.TORCH_QUANTIZED, requires=("torchao",),
             version=METHOD_VERSIONS.get(_kind, 1))(_handler(_kind, _summary))


# --- reading it back ------------------------------------------------------------------------------------

def load(path: Path, task: str, layout: dict[str, Any], trust_remote_code: bool, device: str = "cpu"):
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
    modules: dict[str, Any] = {}  # INT4 layers run by the Triton kernels or Marlin replace their nn.Linear
    if layout["kind"] == "int4-weight-only":
        kernel = (layout.get("kernel") or "tinygemm") if device != "cpu" else "dequantized"
        if kernel in ("triton", "marlin", "cuda"):
            from ..kernels import int4_cuda, int4_marlin
            from ..kernels.int4_triton import Int4Linear
        if kernel in ("marlin", "cuda"):  # built (or loaded) now: a machine without nvcc hears so at load, in one line
            (int4_marlin if kernel == "marlin" else int4_cuda).extension()
        for name, (rows, cols) in layers.items():
            parts = {k: state.pop(f"{name}._weight_{k}") for k in ("qdata", "scale", "zero_point")}
            if kernel == "marlin" and int4_marlin.fits((rows, cols), layout["group_size"]):
                modules[name] = int4_marlin.MarlinLinear(parts, (rows, cols), layout["group_size"])
            elif kernel == "cuda" and int4_cuda.fits((rows, cols)):
                modules[name] = int4_cuda.Int4CudaLinear(parts, (rows, cols), layout["group_size"])
            elif kernel in ("triton", "marlin", "cuda"):
                modules[name] = Int4Linear(parts, (rows, cols), layout["group_size"])
            else:
                weights[name] = int4_weight(parts, (rows, cols), layout["group_size"])
    tensors, leftover = unflatten_tensor_state_dict(state, metadata)
    weights.update({name: tensors.pop(f"{name}.weight") for name in layers if f"{name}.weight" in tensors})
    missing_layers = sorted(set(layers) - set(weights) - set(modules))
    result = model.load_state_dict(tensors, strict=False)
    missing = sorted(set(result.missing_keys) - {f"{n}.weight" for n in layers} - set(layout.get("aliases", {})))
    if missing or result.unexpected_keys or leftover or missing_layers:
        raise CompressionError(f"{path}: stored tensors do not fit the architecture (missing {missing[:5]}, "
                               f"unexpected {sorted(result.unexpected_keys)[:5]}, unread {sorted(leftover)[:5]}, "
                               f"quantized layers without weights {missing_layers[:5]})")
    for name, weight in weights.items():
        module = model.get_submodule(name)
        module.weight = torch.nn.Parameter(weight, requires_grad=False)
        if layout["kind"] == "int8-dynamic" and device != "cpu" and type(module) is torch.nn.Linear:
            module.__class__ = padded_rows_linear()  # decoding's few rows, padded for cuBLAS's int8 product
    for name, replacement in modules.items():
        parent, _, child = name.rpartition(".")
        replacement.bias = model.get_submodule(name).bias
        setattr(model.get_submodule(parent), child, replacement)
    if layout["kind"] == "int4-weight-only" and kernel == "cuda":
        int4_cuda.fuse_siblings(model)  # q/k/v and gate/up as one product each
    return model.eval()  # tied tensors (the aliases) share storage since from_config, so loading one filled both


SCHEMES.register(SCHEME, load)
