"""Marlin, the FP16 x INT4 product for small batches, for symmetric ``torchao-int4-weight-only`` artifacts.

Marlin (``kernels/marlin/``, vendored; Frantar et al., Apache 2.0) streams 4-bit weights through shared
memory with asynchronous copies and multiplies on the tensor cores, with a partitioning made for 1-16
token rows (on an A100 its authors measured it near the memory's bandwidth; on an H200 here, built by
CUDA 13 without its L2 hint, a compiled 7B's decoding step read about 1.3 TB/s through it: see
benchmarks/results/torchao_gpu.txt). Its arithmetic is symmetric:
``w = (q - 8) * scale`` with an fp16 scale per group of 128 inputs (no zero point), on fp16 activations.
So ``kernel = "marlin"`` quantizes symmetrically (the stored zero points are 0: the same file runs on
tinygemm and Triton too), and ``MarlinLinear`` casts its bf16 input to fp16 and its output back (under
``torch.compile`` the casts fuse into the neighbouring kernels).

The CUDA sources are built on first use (``kernels.build``: nvcc and ninja, a directory per sources,
torch, CUDA and compute capability). ``pack`` turns
the stored 4-bit values and scales into Marlin's tiles (a port of ``marlin.Layer.pack``); ``unpack``
inverts it, so the layout is checked on any machine and a CPU runs the same numbers in PyTorch.
"""

import functools
from pathlib import Path

import torch

from ..errors import CompressionError
from .build import cuda_extension
from ..methods.torchao_gpu_tensors import int4_values, int4_words, word_values

GROUP_SIZE = 128  # the group size the vendored kernels are built for (besides one group per column)
TILE = 16
OP = "compressgate::marlin_linear"
SOURCES = Path(__file__).resolve().parent / "marlin"
MAX_PAR = 16  # Marlin's cap on 64-row problems run side by side; sizes the lock workspace


def fits(shape: tuple[int, int], group_size: int) -> bool:
    """Whether Marlin takes a ``[out, in]`` weight: in % 128, out % 256 (its tiles), groups of 128."""
    rows, cols = shape
    return group_size == GROUP_SIZE and cols % 128 == 0 and rows % 256 == 0


@functools.lru_cache(maxsize=2)
def _permutations(one_group: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Marlin's order of a 16x64 tile's values (so one thread's loads feed its mma directly) and of the scales:
    64 at a time, or 32 where a column has one group (Marlin then reads them as per-column scales)."""
    perm: list[int] = []
    for i in range(32):
        block_perm = []
        col = i // 4
        for block in (0, 1):
            for row in (2 * (i % 4), 2 * (i % 4) + 1, 2 * (i % 4 + 4), 2 * (i % 4 + 4) + 1):
                block_perm.append(16 * row + col + 8 * block)
        for j in range(4):
            perm.extend(p + 256 * j for p in block_perm)
    interleave = torch.tensor([0, 2, 4, 6, 1, 3, 5, 7])
    values = torch.tensor(perm).reshape(-1, 8)[:, interleave].reshape(-1)
    if one_group:
        scales = torch.tensor([2 * i + j for i in range(4) for j in (0, 1, 8, 9, 16, 17, 24, 25)])
    else:
        scales = torch.tensor([i + 8 * j for i in range(8) for j in range(8)])
    return values, scales


def pack(values: torch.Tensor, scale: torch.Tensor) -> dict[str, torch.Tensor]:
    """``values [out, in]`` (0..15) and ``scale [out, groups]`` as Marlin's ``weight [in/16, 2 out]`` int32
    and ``scale [groups, out]`` fp16, on their device."""
    n, k = values.shape
    perm, scale_perm = (p.to(values.device) for p in _permutations(scale.shape[1] == 1))
    w = values.T.reshape(k // TILE, TILE, n // TILE, TILE).permute(0, 2, 1, 3)
    w = w.reshape(k // TILE, n * TILE)
    words = int4_words(w.reshape(-1, perm.numel())[:, perm].reshape(k // TILE, n * TILE // 8, 8))
    s = scale.T.to(torch.float16).reshape(-1, scale_perm.numel())[:, scale_perm].reshape(-1, n)
    return {"weight": words.contiguous(), "scale": s.contiguous()}


def unpack(weight: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``pack``'s inverse: ``(values [out, in] int32, scale [out, groups] fp16)``."""
    k, n = weight.shape[0] * TILE, scale.shape[1]
    perm, scale_perm = (p.to(weight.device) for p in _permutations(scale.shape[0] == 1))
    w = word_values(weight).reshape(-1, perm.numel())[:, torch.argsort(perm)]
    w = w.reshape(k // TILE, n // TILE, TILE, TILE).permute(0, 2, 1, 3).reshape(k, n)
    s = scale.reshape(-1, scale_perm.numel())[:, torch.argsort(scale_perm)].reshape(-1, n)
    return w.T.to(torch.int32).contiguous(), s.T.contiguous()


def dequantize(weight: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    """The ``[out, in]`` weight Marlin's parts encode, in PyTorch: ``(q - 8) * scale``."""
    values, s = unpack(weight, scale)
    groups = s.shape[1]
    w = (values.reshape(values.shape[0], groups, -1).float() - 8) * s.float()[..., None]
    return w.reshape(values.shape[0], -1).to(dtype)


@functools.lru_cache(maxsize=1)
def extension():
    """The built Marlin extension (``kernels.build``: built on the first call on a machine, then loaded)."""
    return cuda_extension("marlin", sorted(SOURCES.glob("marlin_cuda*")), "Marlin's CUDA kernels", 40)


def marlin_matmul(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor, workspace: torch.Tensor) -> torch.Tensor:
    """``x [M, in] @ w.T`` in fp16 for ``pack``'s parts: Marlin on a GPU, PyTorch elsewhere."""
    if not x.is_cuda:
        return x @ dequantize(weight, scale, x.dtype).T
    out = torch.empty((x.shape[0], scale.shape[1]), dtype=torch.float16, device=x.device)
    extension().mul(x.contiguous(), weight, out, scale, workspace, -1, -1, -1, MAX_PAR)
    return out


@functools.lru_cache(maxsize=1)
def marlin_linear_op():
    """``torch.ops.compressgate.marlin_linear``: one opaque node under compile. The workspace is Marlin's
    lock array, zero before and after every call, so the op mutates nothing a caller can see."""
    op = torch.library.custom_op(OP, mutates_args=(),
                                 schema="(Tensor x, Tensor weight, Tensor scale, Tensor workspace) -> Tensor")
    op(marlin_matmul)

    @torch.library.register_fake(OP)
    def _(x, weight, scale, workspace):
        return x.new_empty((x.shape[0], scale.shape[1]), dtype=torch.float16)

    return torch.ops.compressgate.marlin_linear.default


class MarlinLinear(torch.nn.Module):
    """An ``nn.Linear`` run by Marlin from a symmetric INT4 artifact's parts; bf16 in and out, fp16 inside."""

    def __init__(self, parts: dict[str, torch.Tensor], shape: tuple[int, int], group_size: int,
                 bias: torch.Tensor | None = None) -> None:
        super().__init__()
        if not fits(shape, group_size):
            raise CompressionError(f"Marlin takes [out, in] weights with in % 128 == 0, out % 256 == 0 and groups "
                                   f"of {GROUP_SIZE}; got {list(shape)} with groups of {group_size}")
        if bool(parts["zero_point"].any()):
            raise CompressionError("Marlin's arithmetic is symmetric and this INT4 weight has zero points: build the "
                                   "artifact with kernel = 'marlin' (it quantizes symmetrically)")
        self.out_features, self.in_features = shape
        self.group_size = group_size
        packed = pack(int4_values(parts["qdata"]), parts["scale"])
        for name, tensor in packed.items():
            self.register_buffer(name, tensor)
        workspace = torch.zeros(self.out_features // 128 * MAX_PAR, dtype=torch.int32, device=packed["weight"].device)
        self.register_buffer("workspace", workspace, persistent=False)
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach(), requires_grad=False)
        self._op = marlin_linear_op()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._op(x.reshape(-1, self.in_features).to(torch.float16), self.weight, self.scale, self.workspace)
        y = y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"
