"""INT4 weight-only products in CUDA (``kernels/cuda/int4_gemv.cu``), for ``torchao-int4-weight-only``
artifacts loaded with ``kernel = "cuda"``.

The artifact stores a ``[out, in]`` weight as 4-bit values with a bf16 scale and zero point per group of
inputs, ``w = (q - 8) * scale + zero`` (tinygemm's arithmetic; symmetric artifacts have zero points of 0).
``Int4CudaLinear`` repacks that once, at load (``pack``), into the layout the kernel reads:

* ``weight [out, in/8]`` int32, an output's inputs contiguous, eight to a word in the order that turns a
  word into four half2 pairs of neighbouring inputs with one ``lop3`` each (input ``2j`` in bits
  ``4j..4j+3``, input ``2j+1`` in bits ``16+4j..19+4j``);
* ``scale_zero [out, groups]`` int32, the bf16 scale in the low half and the bf16 zero point in the high
  half, one 4-byte load per group.

1-8 token rows (decoding) run the GEMV: each lane reads 16 bytes of one output's weights at a time,
dequantizes them in registers (no conversion instruction: the values go into the mantissa of 1024.0) and
multiplies them with the fp16 activations in half2, summing 16 products per half in fp16 and the rest in
fp32; a warp takes a few outputs over all their inputs and sums across its lanes, so a product is one
launch with no shared memory. Each lane loads the next stage of weights before it uses the current one.
More rows than 8 make the GEMV's fp16 arithmetic the bound (16 rows: 0.23-0.36x bf16 on an H200), and
prompts are compute-bound: there the weight is dequantized to bf16 and cuBLAS multiplies. The activations
go in as fp16 (``Int4CudaLinear`` casts; under ``torch.compile`` the cast fuses into the kernel before),
the result comes out bf16.

The sources are built with nvcc on first use (``kernels.build``). On a CPU the same arithmetic runs in
PyTorch, so the layout is checked on any machine. Speed on an H200: benchmarks/int4_kernels.py and
benchmarks/results/torchao_gpu.txt.
"""

import functools
from pathlib import Path

import torch

from ..methods.torchao_gpu_tensors import int4_values, int4_words, word_values
from .build import cuda_extension

MID = 8  # tinygemm's zero point sits at the middle of 0..15
MAX_ROWS = 8  # the most token rows the GEMV takes: beyond, dequantize + cuBLAS is faster (H200)
OP = "compressgate::int4_cuda_linear"
SOURCES = [Path(__file__).resolve().parent / "cuda" / name for name in ("int4_gemv.cpp", "int4_gemv.cu")]
WORD_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)  # bits 4i..4i+3 of a word hold input WORD_ORDER[i] of its eight


def fits(shape: tuple[int, int]) -> bool:
    """Whether the kernel takes a ``[out, in]`` weight: in % 32 (16 bytes of 4-bit values per load)."""
    return shape[1] % 32 == 0


def pack(parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The stored parts in the kernel's layout: ``weight [out, in/8]`` and ``scale_zero [out, groups]`` int32."""
    values = int4_values(parts["qdata"])
    rows = values.shape[0]
    words = int4_words(values.reshape(rows, -1, 8)[..., list(WORD_ORDER)])
    scale, zero = (parts[k].contiguous().view(torch.int16).to(torch.int32) for k in ("scale", "zero_point"))
    return {"weight": words.contiguous(), "scale_zero": ((zero << 16) | (scale & 0xFFFF)).contiguous()}


def unpack(weight: torch.Tensor, scale_zero: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``pack``'s inverse: ``(values [out, in] int32 0..15, scale, zero [out, groups] bf16)``."""
    rows = weight.shape[0]
    values = word_values(weight).reshape(rows, -1, 8)[..., torch.argsort(torch.tensor(WORD_ORDER))]
    halves = [(scale_zero & 0xFFFF).to(torch.int16), (scale_zero >> 16).to(torch.int16)]
    scale, zero = (h.contiguous().view(torch.bfloat16) for h in halves)
    return values.reshape(rows, -1).to(torch.int32), scale, zero


def dequantize(weight: torch.Tensor, scale_zero: torch.Tensor, group_size: int,
               dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """The ``[out, in]`` weight ``pack``'s parts encode, in PyTorch (any device)."""
    values, scale, zero = unpack(weight, scale_zero)
    rows = values.shape[0]
    w = (values.reshape(rows, -1, group_size).float() - MID) * scale.float()[..., None] + zero.float()[..., None]
    return w.reshape(rows, -1).to(dtype)


@functools.lru_cache(maxsize=1)
def extension():
    """The built kernels (``kernels.build``: built on the first call on a machine, then loaded)."""
    return cuda_extension("int4_gemv", SOURCES, "compressgate's INT4 CUDA kernels", 35)


def launch_configs(rows: int) -> list[tuple[int, int]]:
    """The (outputs per warp, loads in flight per output) pairs int4_gemv.cu builds for ``rows`` token rows."""
    return [(1, 1), (2, 1), (2, 2), (4, 1)] + ([(1, 4), (2, 4), (4, 2)] if rows <= 2 else [])


def launch_config(rows: int, out_features: int, in_features: int) -> tuple[int, int]:
    """The GEMV's launch configuration, the fastest of benchmarks/int4_kernels.py --sweep on an H200 for a 7B's
    shapes: four outputs per warp and one stage of loads where the outputs are many (q+k+v, gate+up, the head),
    two outputs and two loads where each output's inputs are many (down), and two and one between."""
    if out_features >= 2 * in_features or rows > 2:
        config = (4, 1)
    elif in_features > out_features:
        config = (2, 2) if rows == 1 else (4, 2)
    else:
        config = (2, 1) if rows == 1 else (4, 2)
    return config if out_features % config[0] == 0 else (1, 1)


def gemv(x: torch.Tensor, weight: torch.Tensor, scale_zero: torch.Tensor, group_size: int, zero: bool,
         config: tuple[int, int] | None = None) -> torch.Tensor:
    """The GEMV on 1-8 fp16 token rows (CUDA tensors), into bf16: ``config`` one of ``launch_configs``
    (default ``launch_config``)."""
    rows, n = x.shape[0], weight.shape[0]
    if config is None and 1 <= rows <= MAX_ROWS:
        config = launch_config(rows, n, x.shape[1])  # one the kernel builds (a test checks): no need to look
    elif not 1 <= rows <= MAX_ROWS or config not in launch_configs(rows) or n % config[0]:
        raise ValueError(f"the INT4 GEMV takes 1-{MAX_ROWS} rows and one of {launch_configs(max(rows, 1))} with "
                         f"out % outputs per warp == 0; got {rows} rows, out {n}, config {config}")
    return extension().gemv(x, weight, scale_zero, group_size, zero, *config)


def int4_cuda_matmul(x: torch.Tensor, weight: torch.Tensor, scale_zero: torch.Tensor, group_size: int,
                     zero: bool) -> torch.Tensor:
    """``x [M, in] @ w.T`` into bf16 for ``pack``'s parts, ``x`` fp16 (1-8 rows) or bf16: the CUDA kernels on
    a GPU, PyTorch elsewhere. ``zero``: whether any zero point is not 0 (otherwise the kernel skips them)."""
    rows = x.shape[0]
    if not x.is_cuda:
        return (x.float() @ dequantize(weight, scale_zero, group_size, torch.float32).T).to(torch.bfloat16)
    if rows == 0:
        return x.new_empty((0, weight.shape[0]), dtype=torch.bfloat16)
    if rows > MAX_ROWS:
        return torch.nn.functional.linear(x.to(torch.bfloat16), extension().dequantize(weight, scale_zero, group_size))
    x = x.to(torch.float16).contiguous()
    if x.data_ptr() % 16:
        x = x.clone()
    return gemv(x, weight, scale_zero, group_size, zero)


@functools.lru_cache(maxsize=1)
def int4_cuda_linear_op():
    """``torch.ops.compressgate.int4_cuda_linear``, registered on first use (one opaque node under compile)."""
    op = torch.library.custom_op(OP, mutates_args=(), schema="(Tensor x, Tensor weight, Tensor scale_zero, "
                                                             "int group_size, bool zero) -> Tensor")
    op(int4_cuda_matmul)

    @torch.library.register_fake(OP)
    def _(x, weight, scale_zero, group_size, zero):
        return x.new_empty((x.shape[0], weight.shape[0]), dtype=torch.bfloat16)

    return torch.ops.compressgate.int4_cuda_linear.default


def product(layer: "Int4CudaLinear | Int4CudaSiblings", x: torch.Tensor) -> torch.Tensor:
    """``x [..., in] @ w.T`` for a layer holding ``pack``'s buffers (``Int4CudaLinear``, ``Int4CudaSiblings``):
    1-8 rows cast to fp16 outside the op, so that compile fuses the cast into the kernel before; no bias."""
    x2 = x.reshape(-1, layer.in_features)
    if x2.shape[0] <= MAX_ROWS:
        x2 = x2.to(torch.float16)
    y = layer._op(x2, layer.weight, layer.scale_zero, layer.group_size, layer.zero)
    return y.to(x.dtype).reshape(*x.shape[:-1], -1)


class Int4CudaLinear(torch.nn.Module):
    """An ``nn.Linear`` whose weight stays INT4 on the device (``pack``'s layout); bf16 in and out (1-8 rows
    go to the kernel as fp16); the bias, if any, bf16."""

    def __init__(self, parts: dict[str, torch.Tensor], shape: tuple[int, int], group_size: int,
                 bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = shape
        self.group_size = group_size
        self.zero = bool(parts["zero_point"].any())
        for name, tensor in pack(parts).items():
            self.register_buffer(name, tensor)
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach(), requires_grad=False)
        self._op = int4_cuda_linear_op()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = product(self, x)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}, "
                f"zero_points={self.zero}")


# Sibling layers that read one input: an attention's q/k/v and an MLP's gate/up (Llama, Mistral, Qwen, Gemma ...)
SIBLINGS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class Int4CudaSiblings(torch.nn.Module):
    """Sibling ``Int4CudaLinear`` layers as one product over their weights stacked by output, so a decoding
    step reads them in one launch (fewer, larger GEMVs keep more bytes in flight). The first member to see
    an input computes every member's outputs; the others take their slice when they see the same input
    tensor, and compute afresh when they do not, so a caller that reads them apart still gets the right
    products."""

    def __init__(self, layers: list[Int4CudaLinear]) -> None:
        super().__init__()
        self.in_features, self.group_size = layers[0].in_features, layers[0].group_size
        self.sizes = [layer.out_features for layer in layers]
        self.zero = any(layer.zero for layer in layers)
        for name in ("weight", "scale_zero"):
            self.register_buffer(name, torch.cat([getattr(layer, name) for layer in layers]))
        self._op = int4_cuda_linear_op()
        self.last: tuple[torch.Tensor, torch.Tensor] | None = None  # (input, every member's output)

    def outputs(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """Every member's outputs for ``x``, computed by member 0 or by one that sees another input; the last
        member lets go of them (a long prompt's activations are not kept past the layer)."""
        last = self.last
        if index == 0 or last is None or last[0] is not x:
            last = (x, product(self, x))
        self.last = None if index == len(self.sizes) - 1 else last
        return last[1]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.sizes}, group_size={self.group_size}"


class Int4CudaSibling(torch.nn.Module):
    """One member of ``Int4CudaSiblings``, in its layer's place: its slice of the stacked product, plus its bias."""

    def __init__(self, siblings: Int4CudaSiblings, index: int, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.index, self.in_features, self.out_features = index, siblings.in_features, siblings.sizes[index]
        self.start = sum(siblings.sizes[:index])
        if index == 0:
            self.siblings = siblings  # registered once, under the first member
        else:
            object.__setattr__(self, "_siblings", siblings)
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        siblings: Int4CudaSiblings = self.siblings if self.index == 0 else self._siblings  # type: ignore[assignment]
        y = siblings.outputs(x, self.index)[..., self.start:self.start + self.out_features]
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"outputs {self.start}:{self.start + self.out_features} of the stacked product"


def fuse_siblings(model: torch.nn.Module) -> list[str]:
    """Stack each set of ``SIBLINGS`` that are all ``Int4CudaLinear`` with one input size and group size into
    one ``Int4CudaSiblings``; returns the parents fused."""
    fused = []
    for parent_name, parent in list(model.named_modules()):
        for names in SIBLINGS:
            found = [getattr(parent, n, None) for n in names]
            layers = [layer for layer in found if type(layer) is Int4CudaLinear]
            if len(layers) < len(names):
                continue
            if len({(layer.in_features, layer.group_size) for layer in layers}) != 1:
                continue
            siblings = Int4CudaSiblings(layers)
            for index, (name, layer) in enumerate(zip(names, layers)):
                setattr(parent, name, Int4CudaSibling(siblings, index, layer.bias))
            fused.append(f"{parent_name}: {'/'.join(names)}")
    return fused
