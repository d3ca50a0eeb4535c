"""The Triton kernels of ``int4_triton`` (see there for the layout and the arithmetic). Triton resolves the
functions a kernel calls from its module's globals, so they live here, at module level, in a module that
only ``int4_triton.triton_kernels`` imports, and only where Triton is installed."""

import triton
import triton.language as tl


@triton.jit
def _plane(words, i: tl.constexpr):
    """Value ``i`` of each word as ``128 + q`` in float32 (q in the mantissa; no int-to-float convert)."""
    if i * 4 <= 16:
        bits = (words << (16 - 4 * i)) & 0xF0000
    else:
        bits = (words >> (4 * i - 16)) & 0xF0000
    return (bits | 0x43000000).to(tl.float32, bitcast=True)

gemv_configs = [triton.Config({"BLOCK_N": n, "CHUNKS": c}, num_warps=w)
                for n, c, w in ((4, 8, 4), (8, 8, 4), (2, 16, 4), (4, 16, 4), (8, 4, 4), (16, 4, 4),
                                (4, 32, 8), (8, 16, 8), (2, 8, 2), (16, 8, 8))]

@triton.autotune(configs=gemv_configs, key=["N", "K"])
@triton.jit
def _gemv(x_ptr, w_ptr, s_ptr, z_ptr, y_ptr, N, K, G: tl.constexpr, BLOCK_N: tl.constexpr,
          CHUNKS: tl.constexpr):
    PLANES_PER_GROUP: tl.constexpr = G // 16
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rows_ok = rn < N
    rc = tl.arange(0, CHUNKS)
    rt = tl.arange(0, 16)
    chunks = (K + 127) // 128
    groups = K // G
    w_rows = w_ptr + rn[:, None, None].to(tl.int64) * (chunks * 16) + rc[None, :, None] * 16 + rt[None, None, :]
    sz_rows = rn[:, None].to(tl.int64) * groups
    acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for c0 in range(0, chunks, CHUNKS):
        chunk_ok = (c0 + rc) < chunks
        words = tl.load(w_rows + c0 * 16, mask=rows_ok[:, None, None] & chunk_ok[None, :, None], other=0)
        part = tl.zeros((BLOCK_N, CHUNKS), dtype=tl.float32)
        x_sum = tl.zeros((CHUNKS,), dtype=tl.float32)
        for i in tl.static_range(8):
            k = (c0 + rc)[:, None] * 128 + i * 16 + rt[None, :]
            x = tl.load(x_ptr + k, mask=k < K, other=0.0).to(tl.float32)
            xs = tl.sum(x, axis=1)
            part += tl.sum(_plane(words, i) * x[None, :, :], axis=2) - 136.0 * xs[None, :]
            x_sum += xs
            if (i + 1) % PLANES_PER_GROUP == 0 or i == 7:  # a group (or this chunk's share of it) ends
                g = ((c0 + rc) * 128 + i * 16) // G
                ok = rows_ok[:, None] & (chunk_ok & (g < groups))[None, :]
                s = tl.load(s_ptr + sz_rows + g[None, :], mask=ok, other=0.0).to(tl.float32)
                z = tl.load(z_ptr + sz_rows + g[None, :], mask=ok, other=0.0).to(tl.float32)
                acc += tl.sum(s * part + z * x_sum[None, :], axis=1)
                part = tl.zeros((BLOCK_N, CHUNKS), dtype=tl.float32)
                x_sum = tl.zeros((CHUNKS,), dtype=tl.float32)
    tl.store(y_ptr + rn, acc.to(y_ptr.dtype.element_ty), mask=rows_ok)

gemm_configs = [triton.Config({"BLOCK_N": n}, num_warps=w, num_stages=st)
                for n, w, st in ((16, 4, 3), (32, 4, 3), (32, 4, 4), (64, 4, 3), (64, 8, 3), (16, 2, 4))]

@triton.autotune(configs=gemm_configs, key=["N", "K"])
@triton.jit
def _gemm(x_ptr, w_ptr, s_ptr, z_ptr, y_ptr, M, N, K, G: tl.constexpr, BLOCK_M: tl.constexpr,
          BLOCK_N: tl.constexpr):
    rm = tl.arange(0, BLOCK_M)
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rows_ok = rn < N
    rt = tl.arange(0, 16)
    chunks = (K + 127) // 128
    groups = K // G
    w_rows = w_ptr + rn[:, None].to(tl.int64) * (chunks * 16) + rt[None, :]
    sz_rows = rn.to(tl.int64) * groups
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for c in range(0, chunks):
        words = tl.load(w_rows + c * 16, mask=rows_ok[:, None], other=0)
        for i in tl.static_range(8):
            g = (c * 128 + i * 16) // G
            ok = rows_ok & (g < groups)
            s = tl.load(s_ptr + sz_rows + g, mask=ok, other=0.0).to(tl.float32)
            z = tl.load(z_ptr + sz_rows + g, mask=ok, other=0.0).to(tl.float32)
            w = ((_plane(words, i) - 136.0) * s[:, None] + z[:, None]).to(x_ptr.dtype.element_ty)
            k = c * 128 + i * 16 + rt
            x = tl.load(x_ptr + rm[:, None] * K + k[None, :], mask=(rm < M)[:, None] & (k < K)[None, :],
                        other=0.0)
            acc += tl.dot(x, tl.trans(w))
    tl.store(y_ptr + rm[:, None] * N + rn[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=(rm < M)[:, None] & rows_ok[None, :])

@triton.jit
def _dequantize(w_ptr, s_ptr, z_ptr, out_ptr, N, K, G: tl.constexpr, BLOCK_N: tl.constexpr):
    rn = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    c = tl.program_id(1)
    rows_ok = rn < N
    rt = tl.arange(0, 16)
    chunks = (K + 127) // 128
    groups = K // G
    words = tl.load(w_ptr + rn[:, None].to(tl.int64) * (chunks * 16) + c * 16 + rt[None, :],
                    mask=rows_ok[:, None], other=0)
    for i in tl.static_range(8):
        g = (c * 128 + i * 16) // G
        ok = rows_ok & (g < groups)
        s = tl.load(s_ptr + rn.to(tl.int64) * groups + g, mask=ok, other=0.0).to(tl.float32)
        z = tl.load(z_ptr + rn.to(tl.int64) * groups + g, mask=ok, other=0.0).to(tl.float32)
        w = (_plane(words, i) - 136.0) * s[:, None] + z[:, None]
        k = c * 128 + i * 16 + rt
        tl.store(out_ptr + rn[:, None].to(tl.int64) * K + k[None, :], w.to(out_ptr.dtype.element_ty),
                 mask=rows_ok[:, None] & (k < K)[None, :])
