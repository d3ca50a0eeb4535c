"""INT4 weight-only matrix products in Triton, for the stored layout of ``torchao-int4-weight-only``.

The stored layout (``torchao_gpu_tensors.int4_components``): a ``[out, in]`` weight as 4-bit values two to
a byte (``qdata[n, j] = q[n, 2j] << 4 | q[n, 2j + 1]``), and a bf16 scale and zero point per group of
``group_size`` inputs, so that ``w = (q - 8) * scale + zero`` (tinygemm's arithmetic).

On the GPU the values are repacked once, at load, into 32-bit words laid out for the kernels: the inputs
go in chunks of 128 (16 words), and nibble ``i`` of word ``t`` of a chunk holds input ``16 i + t`` of it.
So shifting a block of words by ``4 i`` gives 16 consecutive inputs, met by 16 consecutive activations,
and each 4-bit value becomes a float by one shift, one mask-and-or into the mantissa of 128.0 (``128 +
q`` exactly) and nothing else: no integer-to-float conversion, whose low rate would otherwise bound a
one-row product before the memory does. ``128 + q`` is corrected per group: ``sum x (q - 8) = sum x (128
+ q) - 136 sum x``.

``Int4Linear`` replaces an ``nn.Linear`` and picks a kernel by the number of token rows ``M``:

* ``M == 1`` (decoding one sequence): ``_gemv``, a reduction reading a few rows per program, several
  chunks per step, the scale and zero applied once per group; a batch-1 decoding step only reads
  weights, so this kernel decides decoding speed;
* ``2 <= M <= 16`` (a batch of sequences decoding): ``_gemm``, 16 inputs at a time dequantized in
  registers and multiplied on the tensor cores (``tl.dot``), rows padded to 16;
* more rows (a prompt): ``_dequantize`` writes the bf16 weight and cuBLAS multiplies, since a long
  prompt is compute-bound and the 2-byte copy costs less than a slower product.

Where Triton or a GPU is missing (CPU, tests), the same arithmetic runs in PyTorch. The product is the
custom op ``compressgate::int4_linear``, so ``torch.compile`` keeps it whole (never fuses neighbours into
its reduction) and a captured CUDA graph replays it like any kernel; Triton's autotuner picks a block
shape per weight shape on the first call, which decoding makes before any graph is captured.
"""

import functools
from typing import Any

import torch

MID = 8  # the 4-bit values are unsigned; tinygemm's zero point sits at the middle of 0..15
CHUNK = 128  # inputs per chunk of 16 words
GEMM_ROWS = 16  # the most input rows the fused product takes; more are a prompt
OP = "compressgate::int4_linear"


# --- the GPU layout -------------------------------------------------------------------------------------

def unpacked(qdata: torch.Tensor) -> torch.Tensor:
    """The stored bytes as one 4-bit value (0..15) per input, ``[out, in]`` uint8."""
    return torch.stack((qdata >> 4, qdata & 15), dim=-1).reshape(qdata.shape[0], -1)


def _shifts(device: Any) -> torch.Tensor:
    return (4 * torch.arange(8, device=device, dtype=torch.int64)).view(1, 1, 8, 1)


def pack_words(qdata: torch.Tensor) -> torch.Tensor:
    """Stored bytes -> ``[out, ceil(in / 128) * 16]`` int32 words of the kernels' layout (inputs past the end
    padded; the kernels mask their activations to zero, so the padding never reaches an output)."""
    values = unpacked(qdata)
    rows, cols = values.shape
    values = torch.nn.functional.pad(values, (0, -cols % CHUNK), value=MID).to(torch.int64)
    words = (values.reshape(rows, -1, 8, 16) << _shifts(values.device)).sum(dim=2)  # disjoint bits: an OR
    words = torch.where(words >= 2**31, words - 2**32, words)  # as two's-complement int32
    return words.to(torch.int32).reshape(rows, -1).contiguous()


def unpack_words(words: torch.Tensor, cols: int) -> torch.Tensor:
    """The inverse of ``pack_words``: ``[out, in]`` uint8 values."""
    rows = words.shape[0]
    values = ((words.to(torch.int64) & 0xFFFFFFFF).reshape(rows, -1, 1, 16) >> _shifts(words.device)) & 15
    return values.reshape(rows, -1)[:, :cols].to(torch.uint8)


def dequantize(values: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, group_size: int,
               dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """The ``[out, in]`` weight that 4-bit ``values`` (``unpacked`` / ``unpack_words``) encode, in PyTorch."""
    rows = values.shape[0]
    grouped = values.reshape(rows, -1, group_size).to(torch.float32)
    return ((grouped - MID) * scale.float()[..., None] + zero.float()[..., None]).reshape(rows, -1).to(dtype)


# --- the kernels ----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def triton_kernels() -> dict[str, Any] | None:
    """The three Triton kernels (compiled on first launch); None where Triton cannot be imported."""
    try:
        import triton

        from . import _int4_jit
    except ImportError:
        return None
    return {"gemv": _int4_jit._gemv, "gemm": _int4_jit._gemm, "dequantize": _int4_jit._dequantize,
            "cdiv": triton.cdiv}


def int4_matmul(x: torch.Tensor, words: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, cols: int,
                group_size: int) -> torch.Tensor:
    """``x [M, cols] @ w.T`` for a weight in the kernels' layout: the Triton kernels on a GPU, PyTorch elsewhere."""
    kernels = triton_kernels() if x.is_cuda else None
    rows, n = x.shape[0], words.shape[0]
    if kernels is None:
        return x @ dequantize(unpack_words(words, cols), scale, zero, group_size, x.dtype).T
    x = x.contiguous()
    if rows > GEMM_ROWS:
        weight = torch.empty((n, cols), dtype=x.dtype, device=x.device)
        kernels["dequantize"][(kernels["cdiv"](n, 32), kernels["cdiv"](cols, CHUNK))](
            words, scale, zero, weight, n, cols, G=group_size, BLOCK_N=32, num_warps=4)
        return x @ weight.T
    out = torch.empty((rows, n), dtype=x.dtype, device=x.device)
    if rows == 1:
        kernels["gemv"][lambda meta: (kernels["cdiv"](n, meta["BLOCK_N"]),)](
            x, words, scale, zero, out, n, cols, G=group_size)
    else:
        kernels["gemm"][lambda meta: (kernels["cdiv"](n, meta["BLOCK_N"]),)](
            x, words, scale, zero, out, rows, n, cols, G=group_size, BLOCK_M=GEMM_ROWS)
    return out


@functools.lru_cache(maxsize=1)
def int4_linear_op():
    """``torch.ops.compressgate.int4_linear``, registered on first use (one opaque node under compile)."""
    schema = "(Tensor x, Tensor words, Tensor scale, Tensor zero, int cols, int group_size) -> Tensor"
    torch.library.custom_op(OP, mutates_args=(), schema=schema)(int4_matmul)

    @torch.library.register_fake(OP)
    def _(x, words, scale, zero, cols, group_size):
        return x.new_empty((x.shape[0], words.shape[0]))

    return torch.ops.compressgate.int4_linear.default


class Int4Linear(torch.nn.Module):
    """An ``nn.Linear`` whose weight stays INT4 on the device, in the kernels' layout; the bias, if any, bf16."""

    def __init__(self, parts: dict[str, torch.Tensor], shape: tuple[int, int], group_size: int,
                 bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = shape
        self.group_size = group_size
        self.register_buffer("words", pack_words(parts["qdata"]))
        self.register_buffer("scale", parts["scale"].contiguous())
        self.register_buffer("zero_point", parts["zero_point"].contiguous())
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach(), requires_grad=False)
        self._op = int4_linear_op()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._op(x.reshape(-1, self.in_features), self.words, self.scale, self.zero_point, self.in_features,
                     self.group_size)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"
