"""Half-precision casts (float16 / bfloat16) for GPU targets, saved with ``save_pretrained`` as safetensors.

Written as the ``torch-quantized`` format with a ``cast`` scheme rather than as a plain transformers
directory: ``from_pretrained`` without ``dtype="auto"`` upcasts the weights to float32, and the gate
would then score a float32 model under a float16 label. The directory stays a valid
``save_pretrained`` checkpoint that any transformers user can load with ``dtype="auto"``.
On CPU the cast still builds and reloads; float16 kernels there are slow and some may be missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError
from ..modelio import copy_tokenizer, load_model_dir
from ._torch_format import SCHEMES, parameter_elements, write_layout

SCHEME = "cast"


@dataclass(frozen=True)
class CastFp16Config(StepConfig):
    """Every floating-point weight cast to float16 (GPU targets with fast fp16, e.g. T4, V100, A10)."""


@dataclass(frozen=True)
class CastBf16Config(StepConfig):
    """Every floating-point weight cast to bfloat16 (Ampere and later GPUs, recent Xeons with AMX)."""


def cast(model_dir: Path, out_dir: Path, context: Context, dtype_name: str) -> Result:
    import torch

    dtype = getattr(torch, dtype_name)
    # dtype="auto": the weights as stored, so a checkpoint already in half precision is seen as such
    model = load_model_dir(model_dir, context.model_task, trust_remote_code=context.trust_remote_code, dtype="auto")
    total = parameter_elements(model)
    changed = sum(p.numel() for p in model.parameters() if p.is_floating_point() and p.dtype != dtype)
    if changed == 0:
        raise CompressionError(f"cast to {dtype_name} would change nothing: the weights are already "
                               f"{dtype_name} or not floating point")
    model.to(dtype).save_pretrained(str(out_dir), safe_serialization=True)
    copy_tokenizer(model_dir, out_dir)
    write_layout(out_dir, SCHEME, dtype=dtype_name)
    # Count on the reloaded copy, the one the gate scores: transformers keeps some modules in float32
    # (``_keep_in_fp32_modules``, e.g. T5's feed-forward output) whatever dtype is asked for.
    reloaded = _load(out_dir, context.model_task, {"dtype": dtype_name}, context.trust_remote_code, "cpu")
    in_dtype = sum(p.numel() for p in reloaded.parameters() if p.dtype == dtype)
    tensors = [*reloaded.parameters(), *reloaded.buffers()]
    return Result(ModelFormat.TORCH_QUANTIZED, {
        "dtype": dtype_name,
        "cast_share": round(in_dtype / max(total, 1), 4),
        "changed_share": round(changed / max(total, 1), 4),
        "weight_bytes": sum(t.numel() * t.element_size() for t in tensors),
    })


@register("cast-fp16", CastFp16Config, produces=ModelFormat.TORCH_QUANTIZED)
def cast_fp16(model_dir: Path, config: CastFp16Config, out_dir: Path, context: Context) -> Result:
    """Cast weights to float16 (safetensors); for GPU targets."""
    return cast(model_dir, out_dir, context, "float16")


@register("cast-bf16", CastBf16Config, produces=ModelFormat.TORCH_QUANTIZED)
def cast_bf16(model_dir: Path, config: CastBf16Config, out_dir: Path, context: Context) -> Result:
    """Cast weights to bfloat16 (safetensors); for GPU targets and AMX CPUs."""
    return cast(model_dir, out_dir, context, "bfloat16")


def _load(path: Path, task: str, layout: dict[str, Any], trust_remote_code: bool, device: str = "cpu"):
    """Load in the stored dtype on ``device``; refuse a copy that came back with no weight in it."""
    import torch

    model = load_model_dir(path, task, trust_remote_code=trust_remote_code, dtype=layout["dtype"])
    if not any(p.dtype == getattr(torch, layout["dtype"]) for p in model.parameters()):
        raise CompressionError(f"{path}: no weight came back as {layout['dtype']}; the cast was lost")
    return model.to(device)


SCHEMES.register(SCHEME, _load)
