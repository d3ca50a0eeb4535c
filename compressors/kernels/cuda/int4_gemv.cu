// INT4 weight-only products for 1-8 token rows, and the dequantization for more
// (compressors/kernels/int4_cuda.py describes the layout and says when each runs).
//
// The weight is [out, in] with eight 4-bit values to an int32 word along `in` (an output's inputs
// contiguous), in the order that turns a word into four half2 pairs of neighbouring inputs with one
// lop3 each: input 2j sits in bits 4j..4j+3, input 2j+1 in bits 16+4j..19+4j. A value v of 0..15 OR-ed
// into the mantissa of 1024.0 (0x6400) is the half 1024 + v, so subtracting 1032 leaves v - 8 exactly; the
// values in bits 4..7 of a half are 16 v, and one fma by 1/16 and -72 gives v - 8 exactly too. Each lane
// takes 32 inputs (16 bytes of one output's weights) at a time, multiplies them with the activations in
// half2, sums 16 products per half in fp16 and the rest in fp32, with the group's scale (and zero point:
// w = (v - 8) * scale + zero, tinygemm's arithmetic) applied once per 32 inputs. A warp takes R outputs
// and all their inputs, then sums across its lanes: no shared memory, no atomics, one launch.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace {

constexpr int kWarps = 4;           // warps per block
constexpr int kInputsPerLoad = 32;  // 16 bytes of 4-bit values

union Half2Bits {
  uint32_t u;
  half2 h;
};

__device__ __forceinline__ half2 as_half2(uint32_t u) {
  Half2Bits b;
  b.u = u;
  return b.h;
}

__device__ __forceinline__ uint32_t and_or(uint32_t a, uint32_t mask, uint32_t bits) {  // (a & mask) | bits
  uint32_t r;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(a), "r"(mask), "r"(bits));
  return r;
}

// 16 bytes of weights, read once: not kept in L1, where the activations live
__device__ __forceinline__ uint4 load_weights(const uint4* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// One word's eight values minus 8, as four half2 pairs of neighbouring inputs (2j, 2j + 1)
__device__ __forceinline__ void word_to_half2(uint32_t q, half2* h) {
  constexpr uint32_t kLow = 0x000f000f, kHigh = 0x00f000f0, kMagic = 0x64006400;
  const half2 k1032 = as_half2(0x64086408u), kSixteenth = as_half2(0x2c002c00u), kMinus72 = as_half2(0xd480d480u);
  const uint32_t top = q >> 8;
  h[0] = __hsub2(as_half2(and_or(q, kLow, kMagic)), k1032);
  h[1] = __hfma2(as_half2(and_or(q, kHigh, kMagic)), kSixteenth, kMinus72);
  h[2] = __hsub2(as_half2(and_or(top, kLow, kMagic)), k1032);
  h[3] = __hfma2(as_half2(and_or(top, kHigh, kMagic)), kSixteenth, kMinus72);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// 32 activations (16 bytes of weights' worth) as half2 pairs
__device__ __forceinline__ void load_x(const half* x, int c, half2 (&xv)[16]) {
  const uint4* xp = reinterpret_cast<const uint4*>(x) + c * 4;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint4 t = __ldg(xp + i);
    xv[4 * i] = as_half2(t.x);
    xv[4 * i + 1] = as_half2(t.y);
    xv[4 * i + 2] = as_half2(t.z);
    xv[4 * i + 3] = as_half2(t.w);
  }
}

__device__ __forceinline__ float sum_x(const half2 (&xv)[16]) {
  half2 s0 = __hadd2(xv[0], xv[1]), s1 = __hadd2(xv[2], xv[3]);
#pragma unroll
  for (int j = 4; j < 16; j += 2) {
    s0 = __hadd2(s0, xv[j]);
    s1 = __hadd2(s1, xv[j + 1]);
  }
  const float2 f = __half22float2(__hadd2(s0, s1));
  return f.x + f.y;
}

__device__ __forceinline__ void dequantize(const uint4& q, half2 (&h)[16]) {
  word_to_half2(q.x, &h[0]);
  word_to_half2(q.y, &h[4]);
  word_to_half2(q.z, &h[8]);
  word_to_half2(q.w, &h[12]);
}

// sum of 32 products: 16 per half in fp16, the two halves in fp32
__device__ __forceinline__ float dot(const half2 (&h)[16], const half2 (&xv)[16]) {
  half2 a0 = __hmul2(h[0], xv[0]), a1 = __hmul2(h[1], xv[1]);
#pragma unroll
  for (int j = 2; j < 16; j += 2) {
    a0 = __hfma2(h[j], xv[j], a0);
    a1 = __hfma2(h[j + 1], xv[j + 1], a1);
  }
  const float2 f = __half22float2(__hadd2(a0, a1));
  return f.x + f.y;
}

// acc += the group's scale (low half of p, bf16) x the sum, and its zero point (high half) x sum(x)
template <bool ZERO>
__device__ __forceinline__ float apply_group(float acc, uint32_t p, float d, float xsum) {
  acc = fmaf(__uint_as_float(p << 16), d, acc);
  return ZERO ? fmaf(__uint_as_float(p & 0xffff0000u), xsum, acc) : acc;
}

// One lane's 32 inputs (load c) of R outputs against each token row's activations, into acc
template <int M, int R, bool ZERO>
__device__ __forceinline__ void accumulate(const uint4 (&q)[R], const uint32_t (&p)[R], int c, const half* x, int rows,
                                           int k, float (&acc)[M][R]) {
  if constexpr (M == 1) {  // one token row: dequantize one output at a time (fewer registers)
    half2 xv[16];
    load_x(x, c, xv);
    const float xsum = ZERO ? sum_x(xv) : 0.f;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      half2 h[16];
      dequantize(q[r], h);
      acc[0][r] = apply_group<ZERO>(acc[0][r], p[r], dot(h, xv), xsum);
    }
  } else {  // several: dequantize each output once for all rows
    half2 h[R][16];
#pragma unroll
    for (int r = 0; r < R; ++r) dequantize(q[r], h[r]);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      if (m >= rows) break;
      half2 xv[16];
      load_x(x + static_cast<size_t>(m) * k, c, xv);
      const float xsum = ZERO ? sum_x(xv) : 0.f;
#pragma unroll
      for (int r = 0; r < R; ++r) acc[m][r] = apply_group<ZERO>(acc[m][r], p[r], dot(h[r], xv), xsum);
    }
  }
}

// The U loads of 16 bytes per output (and their groups' scales) that start at load c0, where they exist
template <int R, int U>
__device__ __forceinline__ void load_stage(const uint4* w, const uint32_t* sz, int loads, int groups, int group_shift,
                                           int c0, uint4 (&q)[U][R], uint32_t (&p)[U][R]) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int c = c0 + 32 * u;
    if (c < loads) {
#pragma unroll
      for (int r = 0; r < R; ++r) q[u][r] = load_weights(w + static_cast<size_t>(r) * loads + c);
#pragma unroll
      for (int r = 0; r < R; ++r) p[u][r] = __ldg(sz + r * groups + (c >> group_shift));
    }
  }
}

// out[m, n] = sum_k x[m, k] * w[n, k] for m < rows <= M; a warp takes outputs row0 .. row0 + R - 1. Each lane
// issues U loads of 16 bytes per output at a time, and the next U before it uses the last (bytes in flight
// hide the memory's latency). ZERO: the artifact has zero points (asymmetric), which add zero * sum(x) per group.
template <int M, int R, int U, bool ZERO>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_kernel(const half* __restrict__ x, const uint4* __restrict__ weight, const uint32_t* __restrict__ scale_zero,
                __nv_bfloat16* __restrict__ out, int rows, int n, int k, int group_shift) {
  const int lane = threadIdx.x % 32;
  const int row0 = (blockIdx.x * kWarps + threadIdx.x / 32) * R;
  if (row0 >= n) return;
  const int loads = k / kInputsPerLoad, groups = loads >> group_shift;
  const uint4* w = weight + static_cast<size_t>(row0) * loads;
  const uint32_t* sz = scale_zero + static_cast<size_t>(row0) * groups;
  float acc[M][R];
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int r = 0; r < R; ++r) acc[m][r] = 0.f;

  uint4 q[U][R];
  uint32_t p[U][R];
  load_stage<R, U>(w, sz, loads, groups, group_shift, lane, q, p);
  for (int c0 = lane; c0 < loads; c0 += 32 * U) {
    uint4 qn[U][R];
    uint32_t pn[U][R];
    load_stage<R, U>(w, sz, loads, groups, group_shift, c0 + 32 * U, qn, pn);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + 32 * u;
      if (c < loads) accumulate<M, R, ZERO>(q[u], p[u], c, x, rows, k, acc);
    }
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int r = 0; r < R; ++r) {
        q[u][r] = qn[u][r];
        p[u][r] = pn[u][r];
      }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    if (m >= rows) break;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float v = warp_sum(acc[m][r]);
      if (lane == r) out[static_cast<size_t>(m) * n + row0 + r] = __float2bfloat16_rn(v);
    }
  }
}

// The bf16 [out, in] weight: one thread per word, eight outputs of 16 bytes
__global__ void dequantize_kernel(const uint32_t* __restrict__ weight, const uint32_t* __restrict__ scale_zero,
                                  __nv_bfloat16* __restrict__ out, int n, int k, int group_shift) {
  const int words = k / 8;
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<size_t>(n) * words) return;
  const int row = static_cast<int>(i / words), word = static_cast<int>(i % words);
  const uint32_t p = scale_zero[static_cast<size_t>(row) * (k >> (group_shift + 5)) + (word / 4 >> group_shift)];
  const float scale = __uint_as_float(p << 16), zero = __uint_as_float(p & 0xffff0000u);
  half2 h[4];
  word_to_half2(weight[i], h);
  __nv_bfloat162 v[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __half22float2(h[j]);
    v[j] = __floats2bfloat162_rn(fmaf(f.x, scale, zero), fmaf(f.y, scale, zero));
  }
  *reinterpret_cast<uint4*>(out + i * 8) = *reinterpret_cast<const uint4*>(v);
}

template <int M, int R, int U>
int launch_gemv(const void* x, const void* weight, const void* scale_zero, void* out, int rows, int n, int k,
                int group_shift, bool zero, cudaStream_t stream) {
  const int blocks = (n + kWarps * R - 1) / (kWarps * R);
  const auto* xp = static_cast<const half*>(x);
  const auto* wp = static_cast<const uint4*>(weight);
  const auto* sp = static_cast<const uint32_t*>(scale_zero);
  auto* op = static_cast<__nv_bfloat16*>(out);
  if (zero)
    gemv_kernel<M, R, U, true><<<blocks, kWarps * 32, 0, stream>>>(xp, wp, sp, op, rows, n, k, group_shift);
  else
    gemv_kernel<M, R, U, false><<<blocks, kWarps * 32, 0, stream>>>(xp, wp, sp, op, rows, n, k, group_shift);
  return 0;
}

// The (outputs per warp, loads in flight per output) pairs built for each row bound M
template <int M>
int launch_rows(int r, int u, const void* x, const void* weight, const void* scale_zero, void* out, int rows, int n,
                int k, int group_shift, bool zero, cudaStream_t stream) {
#define GEMV_CASE(R, U) \
  if (r == R && u == U) return launch_gemv<M, R, U>(x, weight, scale_zero, out, rows, n, k, group_shift, zero, stream);
  GEMV_CASE(1, 1)
  GEMV_CASE(2, 1)
  GEMV_CASE(2, 2)
  GEMV_CASE(4, 1)
  if constexpr (M <= 2) {
    GEMV_CASE(1, 4)
    GEMV_CASE(2, 4)
    GEMV_CASE(4, 2)
  }
#undef GEMV_CASE
  return 1;
}

}  // namespace

// rows <= 8 token rows of fp16 activations [rows, k] times the packed weight, into bf16 [rows, n]; r outputs per
// warp, u loads in flight per output (launch_rows lists the pairs built). Returns 0, or 1 for a shape or
// configuration it does not take.
int int4_gemv_cuda(const void* x, const void* weight, const void* scale_zero, void* out, int rows, int n, int k,
                   int group_shift, bool zero, int r, int u, cudaStream_t stream) {
  if (rows < 1 || rows > 8 || r < 1 || n % r != 0 || k % kInputsPerLoad != 0) return 1;
  if (rows == 1) return launch_rows<1>(r, u, x, weight, scale_zero, out, rows, n, k, group_shift, zero, stream);
  if (rows == 2) return launch_rows<2>(r, u, x, weight, scale_zero, out, rows, n, k, group_shift, zero, stream);
  if (rows <= 4) return launch_rows<4>(r, u, x, weight, scale_zero, out, rows, n, k, group_shift, zero, stream);
  return launch_rows<8>(r, u, x, weight, scale_zero, out, rows, n, k, group_shift, zero, stream);
}

void int4_dequantize_cuda(const void* weight, const void* scale_zero, void* out, int n, int k, int group_shift,
                          cudaStream_t stream) {
  const size_t words = static_cast<size_t>(n) * (k / 8);
  const int threads = 256;
  dequantize_kernel<<<static_cast<unsigned>((words + threads - 1) / threads), threads, 0, stream>>>(
      static_cast<const uint32_t*>(weight), static_cast<const uint32_t*>(scale_zero),
      static_cast<__nv_bfloat16*>(out), n, k, group_shift);
}
