"""INT4 weight-only matrix products in Triton, for the weights of ``torchao-int4-weight-only``.

The artifact stores a ``[out, in]`` weight as 4-bit values two to a byte with a bf16 scale and zero point
per group of ``group_size`` inputs, so that ``w = (q - 8) * scale + zero`` (tinygemm's arithmetic;
``torchao_gpu_tensors.int4_components``). ``Int4Linear`` repacks that once, at load, into the layout
the kernels read (``pack``): the weight transposed, eight 4-bit values of consecutive inputs to an int32
word (``words[r, n]`` holds ``q[n, 8r + i]`` in bits ``4i..4i+3``), and the scales and zero points
transposed to ``[groups, out]``. Neighbouring threads then read neighbouring outputs' words (wide,
coalesced loads) and each thread sums its own inputs, so a product needs one reduction across threads,
at its end. A 4-bit value becomes a float without a conversion instruction: OR-ed into the mantissa of
2**23 and subtracted (``(q | 0x4B000000)`` read as a float is ``2**23 + q``).

One ``Int4Linear`` replaces an ``nn.Linear`` and picks a kernel by the number of token rows ``M``:

* ``M == 1`` (decoding one sequence): ``gemv``, per program a block of outputs over all inputs,
  dequantizing in registers and accumulating in float32; at batch 1 a decoding step only reads
  weights, so this kernel decides decoding speed;
* ``2 <= M <= 16`` (a batch of sequences decoding): ``gemm``, the same loads dequantized to bf16 and
  multiplied on the tensor cores (``tl.dot``), one dot per 4-bit position of the word (a product's
  sum does not depend on the order of its inputs), rows padded to 16. On an H200 this is slow, 0.29-0.60x
  bf16 at 16 rows (each dot takes inputs 8 apart): the results file says what to try next;
* more rows (a prompt): ``dequantize`` writes the bf16 weight (transposed) and cuBLAS multiplies,
  since a long prompt is compute-bound and the 2-byte copy costs less than a slower product.

Where Triton or a GPU is missing (CPU, tests) the same arithmetic runs in PyTorch. The product is the
custom op ``compressgate::int4_linear``, so ``torch.compile`` keeps it whole and a captured CUDA graph
replays it like any kernel; Triton's autotuner picks a block shape per weight shape on the first call,
which decoding makes before any graph is captured. Speed on an H200: benchmarks/int4_kernels.py and
benchmarks/results/torchao_gpu.txt.
"""

import functools
from typing import Any

import torch

from ..methods.torchao_gpu_tensors import int4_values, int4_words, word_values

MID = 8  # the 4-bit values are unsigned; tinygemm's zero point sits at the middle of 0..15
GEMM_ROWS = 16  # the most input rows the fused product takes; more are a prompt
PER_WORD = 8  # 4-bit values to an int32 word
OP = "compressgate::int4_linear"


def pack(parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The stored parts in the kernels' layout: ``words [in/8, out]`` int32, ``scale``/``zero_point``
    ``[groups, out]``, on the parts' device."""
    qdata = parts["qdata"]
    words = int4_words(int4_values(qdata).reshape(qdata.shape[0], -1, PER_WORD))
    return {"words": words.T.contiguous(), "scale": parts["scale"].T.contiguous(),
            "zero_point": parts["zero_point"].T.contiguous()}


def unpack_values(words: torch.Tensor) -> torch.Tensor:
    """``pack``'s words back to one 4-bit value per input: ``[out, in]`` int32 (0..15)."""
    return word_values(words.T).reshape(words.shape[1], -1)


def dequantize(packed: dict[str, torch.Tensor], group_size: int, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """The ``[out, in]`` weight that ``pack``'s parts encode, in PyTorch (any device)."""
    values = unpack_values(packed["words"]).to(torch.float32)
    rows = values.shape[0]
    scale, zero = (packed[k].T.float()[..., None] for k in ("scale", "zero_point"))
    weight = (values.reshape(rows, -1, group_size) - MID) * scale + zero
    return weight.reshape(rows, -1).to(dtype)


@functools.lru_cache(maxsize=1)
def triton_kernels() -> dict[str, Any] | None:
    """The three Triton kernels (``int4_triton_jit``), compiled lazily; None where Triton cannot be imported."""
    try:
        import triton

        from . import int4_triton_jit as jit
    except ImportError:
        return None
    return {"gemv": jit.gemv, "gemm": jit.gemm, "dequantize": jit.dequantize, "cdiv": triton.cdiv}


def int4_matmul(x: torch.Tensor, words: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor,
                group_size: int) -> torch.Tensor:
    """``x [M, in] @ w.T`` for ``pack``'s parts: the Triton kernels on a GPU, PyTorch elsewhere."""
    kernels = triton_kernels() if x.is_cuda else None
    rows, (k, n) = x.shape[0], (words.shape[0] * PER_WORD, words.shape[1])
    if kernels is None:
        packed = {"words": words, "scale": scale, "zero_point": zero}
        return x @ dequantize(packed, group_size, x.dtype).T
    x = x.contiguous()
    if rows > GEMM_ROWS:
        weight = torch.empty((k, n), dtype=x.dtype, device=x.device)
        kernels["dequantize"][(kernels["cdiv"](n, 64), kernels["cdiv"](k // PER_WORD, 16))](
            words, scale, zero, weight, n, k, G=group_size, BLOCK_N=64, BLOCK_R=16, num_warps=4)
        return x @ weight
    out = torch.empty((rows, n), dtype=x.dtype, device=x.device)
    if rows == 1:
        kernels["gemv"][lambda meta: (kernels["cdiv"](n, meta["BLOCK_N"]),)](
            x, words, scale, zero, out, n, k, G=group_size)
    else:
        kernels["gemm"][lambda meta: (kernels["cdiv"](n, meta["BLOCK_N"]),)](
            x, words, scale, zero, out, rows, n, k, G=group_size, BLOCK_M=GEMM_ROWS)
    return out


@functools.lru_cache(maxsize=1)
def int4_linear_op():
    """``torch.ops.compressgate.int4_linear``, registered on first use (one opaque node under compile)."""
    op = torch.library.custom_op(OP, mutates_args=(),
                                 schema="(Tensor x, Tensor words, Tensor scale, Tensor zero, int group_size) -> Tensor")
    op(int4_matmul)

    @torch.library.register_fake(OP)
    def _(x, words, scale, zero, group_size):
        return x.new_empty((x.shape[0], words.shape[1]))

    return torch.ops.compressgate.int4_linear.default


class Int4Linear(torch.nn.Module):
    """An ``nn.Linear`` whose weight stays INT4 on the device (``pack``'s layout); the bias, if any, bf16."""

    def __init__(self, parts: dict[str, torch.Tensor], shape: tuple[int, int], group_size: int,
                 bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = shape
        self.group_size = group_size
        for name, tensor in pack(parts).items():
            self.register_buffer(name, tensor)
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach(), requires_grad=False)
        self._op = int4_linear_op()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._op(x.reshape(-1, self.in_features), self.words, self.scale, self.zero_point, self.group_size)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"
