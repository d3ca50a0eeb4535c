"""torchao INT4 for compiled decoding: tinygemm's INT4 numbers, read by a fused GEMV in one-token steps.

Decoding one token multiplies a single row of activations by every weight matrix: the time is the time
to read the weights. tinygemm (``aten._weight_int4pack_mm``) is made for tiles of 16 rows and reads its
4-bit weights far below the memory bandwidth at one row. This method stores exactly what
``torchao-int4-weight-only`` stores (same file, 4 + 32/group bits a weight) and, when a linear layer
multiplies one row inside ``torch.compile``, computes it from the stored bytes with plain tensor
arithmetic that inductor fuses into one reduction kernel per layer: each byte read once, unpacked in
registers, scaled per group, accumulated in float32. Every other call (eager, or more than one row)
runs tinygemm as the plain INT4 method does. So the GPU holds the weights twice (the plain bytes and
tinygemm's packed tiles, about 2 x 4.25 bits a weight, still under half of bf16); one forward reads one
of the two. On a CPU the packed tiles are bf16 weights (no tinygemm there) and the GEMV runs unfused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, register
from ._torch_format import SCHEMES
from .torchao_gpu import TorchaoConfig, check_group_size, load, quantize

SCHEME = "torchao-int4-gemv"
KIND = "int4-weight-only"  # the stored parts and their layout are the plain INT4 method's
PARTS = {"qdata": "gemv_qdata", "scale": "gemv_scale", "zero_point": "gemv_zero"}  # stored part -> buffer
DECODE_PATH = ("one-row products under torch.compile: a GEMV inductor fuses from the stored INT4 bytes; "
               "otherwise tinygemm (aten::_weight_int4pack_mm)")


@dataclass(frozen=True)
class TorchaoInt4GemvConfig(TorchaoConfig):
    """INT4 weights, asymmetric per group of ``group_size`` inputs; a fused GEMV for compiled decoding."""

    group_size: int = 128  # 32, 64, 128 or 256 inputs share a bf16 scale and zero point

    def __post_init__(self) -> None:
        super().__post_init__()
        check_group_size(self.group_size)


@register("torchao-int4-gemv", TorchaoInt4GemvConfig, produces=ModelFormat.TORCH_QUANTIZED)
def int4_gemv_method(model_dir: Path, config: TorchaoInt4GemvConfig, out_dir: Path, context: Context) -> Result:
    """torchao INT4 weight-only per group; a fused GEMV for one-token steps under torch.compile, tinygemm
    otherwise (GPU sm80+; safetensors)"""
    result = quantize(model_dir, config, out_dir, context, KIND, scheme=SCHEME, loader=load_gemv)
    result.stats["decode_path"] = DECODE_PATH
    return result


def int4_gemv(x, qdata, scale, zero, group_size: int):
    """``x @ W.T`` for one row ``x`` ([..., K], one row in all) and tinygemm's INT4 ``W``: ``qdata`` [N, K/2]
    (even inputs in the high nibble), ``scale`` and ``zero`` [N, K/group] with W = (q - 8) * scale + zero.
    Float32 result [N]. Per group: sum(W x) = scale * sum(q x) + (zero - 8 scale) * sum(x)."""
    import torch

    rows, half = qdata.shape
    groups = half * 2 // group_size
    pairs = x.reshape(groups, group_size // 2, 2).to(torch.float32)
    q = qdata.reshape(rows, groups, group_size // 2)
    dot = ((q >> 4).to(torch.float32) * pairs[..., 0] + (q & 15).to(torch.float32) * pairs[..., 1]).sum(-1)
    s = scale.to(torch.float32)
    return (dot * s).sum(-1) + ((zero.to(torch.float32) - 8 * s) * pairs.sum((-2, -1))).sum(-1)


@functools.cache
def gemv_linear_class() -> type:
    """``nn.Linear`` whose one-row products under torch.compile run ``int4_gemv`` (made on first use, so
    importing this module needs no torch)."""
    import torch

    class Int4GemvLinear(torch.nn.Linear):
        group_size: int

        def forward(self, x):  # shapes are static under compile: the branch is taken once, at tracing
            if torch.compiler.is_compiling() and x.numel() == x.shape[-1]:
                out = int4_gemv(x, self.gemv_qdata, self.gemv_scale, self.gemv_zero, self.group_size)
                out = out.to(x.dtype).reshape(*x.shape[:-1], -1)
                return out if self.bias is None else out + self.bias
            return super().forward(x)

    return Int4GemvLinear


def load_gemv(path: Path, task: str, layout: dict[str, Any], trust_remote_code: bool, device: str = "cpu"):
    """The plain INT4 model (tinygemm on a GPU), each quantized layer also holding the stored bytes."""
    from safetensors import safe_open

    model = load(path, task, layout, trust_remote_code, device)
    cls = gemv_linear_class()
    where = str(next(model.parameters()).device)
    with safe_open(str(path / layout["weights_file"]), framework="pt", device=where) as handle:
        for name in layout["layers"]:
            module = model.get_submodule(name)
            module.__class__ = cls
            module.group_size = int(layout["group_size"])
            for part, buffer in PARTS.items():
                module.register_buffer(buffer, handle.get_tensor(f"{name}._weight_{part}"), persistent=False)
    return model


SCHEMES.register(SCHEME, load_gemv)
