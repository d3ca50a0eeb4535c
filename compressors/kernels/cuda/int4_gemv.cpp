// PyTorch bindings of int4_gemv.cu (compressors/kernels/int4_cuda.py calls them).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

int int4_gemv_cuda(const void* x, const void* weight, const void* scale_zero, void* out, int rows, int n, int k,
                   int group_shift, bool zero, int r, int u, cudaStream_t stream);
void int4_dequantize_cuda(const void* weight, const void* scale_zero, void* out, int n, int k, int group_shift,
                          cudaStream_t stream);

namespace {

int group_shift(int64_t group_size) {
  TORCH_CHECK(group_size == 32 || group_size == 64 || group_size == 128 || group_size == 256,
              "group_size must be 32, 64, 128 or 256, got ", group_size);
  int shift = 0;
  while ((32 << shift) < group_size) ++shift;
  return shift;
}

void check_parts(const torch::Tensor& weight, const torch::Tensor& scale_zero, int64_t k, int64_t group_size) {
  TORCH_CHECK(weight.is_cuda() && weight.scalar_type() == torch::kInt32 && weight.is_contiguous() && weight.dim() == 2,
              "weight must be a contiguous int32 [out, in / 8] CUDA tensor");
  TORCH_CHECK(weight.size(1) * 8 == k && k % 32 == 0, "weight has ", weight.size(1) * 8, " inputs, x ", k,
              " (a multiple of 32)");
  TORCH_CHECK(scale_zero.scalar_type() == torch::kInt32 && scale_zero.is_contiguous() &&
                  scale_zero.size(0) == weight.size(0) && scale_zero.size(1) * group_size == k,
              "scale_zero must be a contiguous int32 [out, in / group_size] tensor");
}

}  // namespace

torch::Tensor gemv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& scale_zero,
                   int64_t group_size, bool zero, int64_t rows_per_warp, int64_t loads_in_flight) {
  TORCH_CHECK(x.is_cuda() && x.scalar_type() == torch::kHalf && x.is_contiguous() && x.dim() == 2,
              "x must be a contiguous fp16 [rows, in] CUDA tensor");
  TORCH_CHECK(reinterpret_cast<uintptr_t>(x.data_ptr()) % 16 == 0, "x must be 16-byte aligned");
  check_parts(weight, scale_zero, x.size(1), group_size);
  const c10::cuda::CUDAGuard guard(x.device());
  auto out = torch::empty({x.size(0), weight.size(0)}, x.options().dtype(torch::kBFloat16));
  const int err = int4_gemv_cuda(x.data_ptr(), weight.data_ptr(), scale_zero.data_ptr(), out.data_ptr(),
                                 static_cast<int>(x.size(0)), static_cast<int>(weight.size(0)),
                                 static_cast<int>(x.size(1)), group_shift(group_size), zero,
                                 static_cast<int>(rows_per_warp), static_cast<int>(loads_in_flight),
                                 at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == 0, "int4 gemv takes 1-8 rows, out % rows_per_warp == 0 and the (rows_per_warp, loads_in_flight) ",
              "pairs int4_gemv.cu builds; got ", x.size(0), " rows, out ", weight.size(0), ", (", rows_per_warp, ", ",
              loads_in_flight, ")");
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

torch::Tensor dequantize(const torch::Tensor& weight, const torch::Tensor& scale_zero, int64_t group_size) {
  check_parts(weight, scale_zero, weight.size(1) * 8, group_size);
  const c10::cuda::CUDAGuard guard(weight.device());
  auto out = torch::empty({weight.size(0), weight.size(1) * 8}, weight.options().dtype(torch::kBFloat16));
  int4_dequantize_cuda(weight.data_ptr(), scale_zero.data_ptr(), out.data_ptr(), static_cast<int>(weight.size(0)),
                       static_cast<int>(weight.size(1) * 8), group_shift(group_size), at::cuda::getCurrentCUDAStream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gemv", &gemv, "INT4 weight-only product for 1-8 fp16 token rows, bf16 out");
  m.def("dequantize", &dequantize, "the bf16 [out, in] weight of the packed parts");
}
