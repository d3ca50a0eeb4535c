"""The Triton kernels of ``int4_triton`` (imported only where Triton is installed): the layout they read
and the choice between them are described there."""

import triton
import triton.language as tl


@triton.jit
def _dequantized_tile(w_ptr, s_ptr, z_ptr, r, rn, N, R, RPG: tl.constexpr):
    """A ``[rows, outputs]`` tile of words with each word's scale and zero point (float32)."""
    ok = (r < R)[:, None] & (rn < N)[None, :]
    w = tl.load(w_ptr + r[:, None] * N + rn[None, :], mask=ok, other=0)
    sz = (r // RPG)[:, None] * N + rn[None, :]
    s = tl.load(s_ptr + sz, mask=ok, other=0.0).to(tl.float32)
    z = tl.load(z_ptr + sz, mask=ok, other=0.0).to(tl.float32)
    return w, s, z


@triton.jit
def _value(w, i: tl.constexpr):
    """``q - 8`` of each word's ``i``-th 4-bit value as float32: OR-ed into the mantissa of 2**23, minus 2**23 + 8."""
    return (((w >> (4 * i)) & 15) | 0x4B000000).to(tl.float32, bitcast=True) - 8388616.0


# (BLOCK_N outputs, BLOCK_R word rows) a step, warps, stages
GEMV_CONFIGS = [triton.Config({"BLOCK_N": n, "BLOCK_R": r}, num_warps=w, num_stages=s)
                for n, r, w, s in ((16, 64, 4, 1), (32, 64, 4, 1), (32, 32, 4, 2), (64, 32, 4, 1),
                                   (64, 64, 8, 1), (128, 16, 4, 1), (32, 128, 8, 1), (16, 128, 8, 1),
                                   (64, 16, 2, 2), (128, 32, 8, 2), (16, 32, 2, 1), (32, 64, 8, 3))]


@triton.autotune(configs=GEMV_CONFIGS, key=["N", "K"])
@triton.jit
def gemv(x_ptr, w_ptr, s_ptr, z_ptr, y_ptr, N, K, G: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr):
    R = K // 8
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rr = tl.arange(0, BLOCK_R)
    acc = tl.zeros((BLOCK_R, BLOCK_N), dtype=tl.float32)
    for r0 in range(0, R, BLOCK_R):
        r = r0 + rr
        w, s, z = _dequantized_tile(w_ptr, s_ptr, z_ptr, r, rn, N, R, G // 8)
        for i in tl.static_range(8):
            x = tl.load(x_ptr + r * 8 + i, mask=r < R, other=0.0).to(tl.float32)
            acc += (_value(w, i) * s + z) * x[:, None]
    tl.store(y_ptr + rn, tl.sum(acc, axis=0).to(y_ptr.dtype.element_ty), mask=rn < N)


GEMM_CONFIGS = [triton.Config({"BLOCK_N": n, "BLOCK_R": r}, num_warps=w, num_stages=s)
                for n, r, w, s in ((32, 16, 4, 2), (64, 16, 4, 2), (32, 32, 4, 2), (64, 32, 4, 3),
                                   (128, 16, 4, 2), (128, 32, 8, 2), (16, 32, 4, 2))]


@triton.autotune(configs=GEMM_CONFIGS, key=["N", "K"])
@triton.jit
def gemm(x_ptr, w_ptr, s_ptr, z_ptr, y_ptr, M, N, K, G: tl.constexpr, BLOCK_M: tl.constexpr,
         BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr):
    # one tensor-core dot per 4-bit position: the i-th values of the words meet the inputs 8r + i
    R = K // 8
    rm = tl.arange(0, BLOCK_M)
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rr = tl.arange(0, BLOCK_R)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for r0 in range(0, R, BLOCK_R):
        r = r0 + rr
        w, s, z = _dequantized_tile(w_ptr, s_ptr, z_ptr, r, rn, N, R, G // 8)
        x_ok = (rm < M)[:, None] & (r < R)[None, :]
        for i in tl.static_range(8):
            x = tl.load(x_ptr + rm[:, None] * K + r[None, :] * 8 + i, mask=x_ok, other=0.0)
            acc += tl.dot(x, (_value(w, i) * s + z).to(x_ptr.dtype.element_ty))
    tl.store(y_ptr + rm[:, None] * N + rn[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=(rm < M)[:, None] & (rn < N)[None, :])


@triton.jit
def dequantize(w_ptr, s_ptr, z_ptr, out_ptr, N, K, G: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr):
    # out [in, out]: the weight transposed, so the stores run along outputs as the loads do
    R = K // 8
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    r = tl.program_id(1) * BLOCK_R + tl.arange(0, BLOCK_R)
    w, s, z = _dequantized_tile(w_ptr, s_ptr, z_ptr, r, rn, N, R, G // 8)
    ok = (r < R)[:, None] & (rn < N)[None, :]
    for i in tl.static_range(8):
        tl.store(out_ptr + (r * 8 + i)[:, None].to(tl.int64) * N + rn[None, :],
                 (_value(w, i) * s + z).to(out_ptr.dtype.element_ty), mask=ok)
