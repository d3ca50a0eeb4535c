"""INT4 weight-only matrix products in Triton, for the stored layout of ``torchao-int4-weight-only``.

The layout (``torchao_gpu_tensors.int4_components``): a ``[out, in]`` weight as 4-bit values two to a byte
(``qdata[n, j] = q[n, 2j] << 4 | q[n, 2j + 1]``), and a bf16 scale and zero point per group of
``group_size`` inputs, so that ``w = (q - 8) * scale + zero`` (tinygemm's arithmetic). One ``Int4Linear``
replaces an ``nn.Linear`` and picks a kernel by the number of token rows ``M`` of its input:

* ``M == 1`` (decoding one sequence): ``_gemv``, a reduction that reads each packed byte once, a few
  rows per program and several groups per step (wide loads, many programs in flight), with the scale
  and zero applied per group to the group's partial sums (``s * sum x (q - 8) + z * sum x``); at batch 1
  a decoding step only reads weights, so this is the kernel that decides decoding speed;
* ``2 <= M <= 16`` (a batch of sequences decoding): ``_gemm``, one group at a time dequantized to bf16
  in registers and multiplied on the tensor cores (``tl.dot``), rows padded to 16;
* more rows (a prompt): the weight is dequantized to bf16 by ``_dequantize`` and multiplied by cuBLAS,
  since a long prompt is compute-bound and the 2-byte copy costs less than a slower product.

Measured on an H200 (benchmarks/int4_kernels.py, benchmarks/results/torchao_gpu.txt): the one-row kernel
reads 0.8-1.3 TB/s of the 4.27 a copy reaches, below tinygemm's 1.1-1.8, so a compiled 7B decodes at
1.03x bf16 with it against 1.37x with tinygemm, which is why tinygemm is the method's default; a 512-row
prompt runs at 0.55-0.71x bf16 with it against tinygemm's 0.04-0.05x. What limits the one-row kernel is
not known yet (no counter profile was taken): the next step is Nsight Compute on ``_gemv``.

Where Triton or a GPU is missing (CPU, tests) the same arithmetic runs in PyTorch. The product is the
custom op ``compressgate::int4_linear``, so ``torch.compile`` keeps it whole (never fuses neighbours into
its reduction) and a captured CUDA graph replays it like any kernel; Triton's autotuner picks a block
shape per weight shape on the first call, which decoding makes before any graph is captured.
"""

import functools
from typing import Any

import torch

from ..methods.torchao_gpu_tensors import int4_values

MID = 8  # the 4-bit values are unsigned; tinygemm's zero point sits at the middle of 0..15
GEMM_ROWS = 16  # the most input rows the fused product takes; more are a prompt
OP = "compressgate::int4_linear"


def dequantize(qdata: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, group_size: int,
               dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """The ``[out, in]`` weight the stored parts encode, in PyTorch (any device)."""
    rows = qdata.shape[0]
    values = int4_values(qdata).reshape(rows, -1, group_size).to(torch.float32)
    weight = (values - MID) * scale.float()[..., None] + zero.float()[..., None]
    return weight.reshape(rows, -1).to(dtype)


@functools.lru_cache(maxsize=1)
def triton_kernels() -> dict[str, Any] | None:
    """The three Triton kernels, compiled lazily; None where Triton cannot be imported."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None

    gemv_configs = [triton.Config({"BLOCK_N": n, "GROUPS_PER_STEP": g}, num_warps=w, num_stages=st)
                    for n, g, w, st in ((4, 8, 4, 1), (4, 8, 4, 2), (8, 8, 4, 1), (2, 8, 2, 1), (4, 4, 2, 1),
                                        (8, 4, 4, 2), (16, 4, 4, 1), (4, 16, 4, 1), (8, 8, 8, 2), (2, 16, 4, 1))]

    @triton.autotune(configs=gemv_configs, key=["N", "K"])
    @triton.jit
    def _gemv(x_ptr, q_ptr, s_ptr, z_ptr, y_ptr, N, K, G: tl.constexpr, BLOCK_N: tl.constexpr,
              GROUPS_PER_STEP: tl.constexpr):
        # a [rows, groups, bytes of a group] block per step: each row's bytes for GROUPS_PER_STEP groups
        # are contiguous, so the loads are wide; partial sums per group, then its scale and zero
        HALF: tl.constexpr = G // 2
        rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
        rows_ok = rn < N
        rg = tl.arange(0, GROUPS_PER_STEP)
        rb = tl.arange(0, HALF)
        groups = K // G
        q_rows = q_ptr + rn[:, None, None].to(tl.int64) * (K // 2) + rg[None, :, None] * HALF + rb[None, None, :]
        x_cols = x_ptr + rg[:, None] * G + 2 * rb[None, :]
        sz_rows = rn[:, None].to(tl.int64) * groups + rg[None, :]
        acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
        for g0 in range(0, groups, GROUPS_PER_STEP):
            ok = (g0 + rg) < groups
            b = tl.load(q_rows + g0 * HALF, mask=rows_ok[:, None, None] & ok[None, :, None], other=0)
            x_even = tl.load(x_cols + g0 * G, mask=ok[:, None], other=0.0).to(tl.float32)
            x_odd = tl.load(x_cols + g0 * G + 1, mask=ok[:, None], other=0.0).to(tl.float32)
            part = tl.sum(((b >> 4).to(tl.float32) - 8.0) * x_even[None, :, :]
                          + ((b & 15).to(tl.float32) - 8.0) * x_odd[None, :, :], axis=2)
            sz_ok = rows_ok[:, None] & ok[None, :]
            s = tl.load(s_ptr + sz_rows + g0, mask=sz_ok, other=0.0).to(tl.float32)
            z = tl.load(z_ptr + sz_rows + g0, mask=sz_ok, other=0.0).to(tl.float32)
            acc += tl.sum(s * part + z * tl.sum(x_even + x_odd, axis=1)[None, :], axis=1)
        tl.store(y_ptr + rn, acc.to(y_ptr.dtype.element_ty), mask=rows_ok)

    gemm_configs = [triton.Config({"BLOCK_N": n, "GROUPS_PER_STEP": g}, num_warps=w, num_stages=st)
                    for n, g, w, st in ((16, 2, 4, 3), (16, 4, 4, 3), (32, 2, 4, 3), (32, 4, 4, 4), (64, 2, 4, 3),
                                        (16, 8, 4, 2), (64, 4, 8, 3))]

    @triton.autotune(configs=gemm_configs, key=["N", "K"])
    @triton.jit
    def _gemm(x_ptr, q_ptr, s_ptr, z_ptr, y_ptr, M, N, K, G: tl.constexpr, BLOCK_M: tl.constexpr,
              BLOCK_N: tl.constexpr, GROUPS_PER_STEP: tl.constexpr):
        HALF: tl.constexpr = G // 2
        STEP: tl.constexpr = GROUPS_PER_STEP * G
        rm = tl.arange(0, BLOCK_M)
        rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
        rows_ok = rn < N
        rg = tl.arange(0, GROUPS_PER_STEP)
        rb = tl.arange(0, HALF)
        rk = tl.arange(0, STEP)
        groups = K // G
        q_rows = q_ptr + rn[:, None, None].to(tl.int64) * (K // 2) + rg[None, :, None] * HALF + rb[None, None, :]
        sz_rows = rn[:, None].to(tl.int64) * groups + rg[None, :]
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for g0 in range(0, groups, GROUPS_PER_STEP):
            ok = (g0 + rg) < groups
            b = tl.load(q_rows + g0 * HALF, mask=rows_ok[:, None, None] & ok[None, :, None], other=0)
            q = tl.reshape(tl.join(b >> 4, b & 15), (BLOCK_N, GROUPS_PER_STEP, G)).to(tl.float32) - 8.0
            sz_ok = rows_ok[:, None] & ok[None, :]
            s = tl.load(s_ptr + sz_rows + g0, mask=sz_ok, other=0.0).to(tl.float32)
            z = tl.load(z_ptr + sz_rows + g0, mask=sz_ok, other=0.0).to(tl.float32)
            w = tl.reshape(q * s[:, :, None] + z[:, :, None], (BLOCK_N, STEP)).to(x_ptr.dtype.element_ty)
            k = g0 * G + rk
            x = tl.load(x_ptr + rm[:, None] * K + k[None, :], mask=(rm < M)[:, None] & (k < K)[None, :], other=0.0)
            acc += tl.dot(x, tl.trans(w))
        tl.store(y_ptr + rm[:, None] * N + rn[None, :], acc.to(y_ptr.dtype.element_ty),
                 mask=(rm < M)[:, None] & rows_ok[None, :])

    @triton.jit
    def _dequantize(q_ptr, s_ptr, z_ptr, w_ptr, N, K, G: tl.constexpr, BLOCK_N: tl.constexpr):
        HALF: tl.constexpr = G // 2
        rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
        g = tl.program_id(1)
        rows_ok = rn < N
        groups = K // G
        b = tl.load(q_ptr + rn[:, None].to(tl.int64) * (K // 2) + g * HALF + tl.arange(0, HALF)[None, :],
                    mask=rows_ok[:, None], other=0)
        q = tl.reshape(tl.join(b >> 4, b & 15), (BLOCK_N, G)).to(tl.float32) - 8.0
        s = tl.load(s_ptr + rn.to(tl.int64) * groups + g, mask=rows_ok, other=0.0).to(tl.float32)
        z = tl.load(z_ptr + rn.to(tl.int64) * groups + g, mask=rows_ok, other=0.0).to(tl.float32)
        w = q * s[:, None] + z[:, None]
        tl.store(w_ptr + rn[:, None].to(tl.int64) * K + g * G + tl.arange(0, G)[None, :],
                 w.to(w_ptr.dtype.element_ty), mask=rows_ok[:, None])

    return {"gemv": _gemv, "gemm": _gemm, "dequantize": _dequantize, "cdiv": triton.cdiv}


def int4_matmul(x: torch.Tensor, qdata: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor,
                group_size: int) -> torch.Tensor:
    """``x [M, in] @ w.T`` for the stored INT4 weight: the Triton kernels on a GPU, PyTorch elsewhere."""
    kernels = triton_kernels() if x.is_cuda else None
    rows, (n, k) = x.shape[0], (qdata.shape[0], qdata.shape[1] * 2)
    if kernels is None:
        return x @ dequantize(qdata, scale, zero, group_size, x.dtype).T
    x = x.contiguous()
    if rows > GEMM_ROWS:
        weight = torch.empty((n, k), dtype=x.dtype, device=x.device)
        kernels["dequantize"][(kernels["cdiv"](n, 32), k // group_size)](
            qdata, scale, zero, weight, n, k, G=group_size, BLOCK_N=32, num_warps=4)
        return x @ weight.T
    out = torch.empty((rows, n), dtype=x.dtype, device=x.device)
    if rows == 1:
        kernels["gemv"][lambda meta: (kernels["cdiv"](n, meta["BLOCK_N"]),)](
            x, qdata, scale, zero, out, n, k, G=group_size)
    else:
        kernels["gemm"][lambda meta: (kernels["cdiv"](n, meta["BLOCK_N"]),)](
            x, qdata, scale, zero, out, rows, n, k, G=group_size, BLOCK_M=GEMM_ROWS)
    return out


@functools.lru_cache(maxsize=1)
def int4_linear_op():
    """``torch.ops.compressgate.int4_linear``, registered on first use (one opaque node under compile)."""
    op = torch.library.custom_op(OP, mutates_args=(),
                                 schema="(Tensor x, Tensor qdata, Tensor scale, Tensor zero, int group_size) -> Tensor")
    op(int4_matmul)

    @torch.library.register_fake(OP)
    def _(x, qdata, scale, zero, group_size):
        return x.new_empty((x.shape[0], qdata.shape[0]))

    return torch.ops.compressgate.int4_linear.default


class Int4Linear(torch.nn.Module):
    """An ``nn.Linear`` whose weight stays in the stored INT4 layout on the device; the bias, if any, bf16."""

    def __init__(self, parts: dict[str, torch.Tensor], shape: tuple[int, int], group_size: int,
                 bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = shape
        self.group_size = group_size
        self.register_buffer("qdata", parts["qdata"].contiguous())
        self.register_buffer("scale", parts["scale"].contiguous())
        self.register_buffer("zero_point", parts["zero_point"].contiguous())
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach(), requires_grad=False)
        self._op = int4_linear_op()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._op(x.reshape(-1, self.in_features), self.qdata, self.scale, self.zero_point, self.group_size)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"
