// CUDA twins of kernels/operator/separable.h: one thread per output element.
#include "base/cuda_check.h"
#include "kernels/operator/separable.h"

namespace reddiff {
namespace {

__global__ void along_w_kernel(const float* __restrict__ in, float* __restrict__ out, const int* __restrict__ ptr,
                               const int* __restrict__ idx, const float* __restrict__ val, int win, int wout,
                               int64_t total) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = t / wout;
    const int j = int(t - row * wout);
    const float* src = in + row * win;
    float s = 0.0f;
    for (int k = ptr[j]; k < ptr[j + 1]; ++k) s += val[k] * src[idx[k]];
    out[t] = s;
  }
}

__global__ void along_h_kernel(const float* __restrict__ in, float* __restrict__ out, const int* __restrict__ ptr,
                               const int* __restrict__ idx, const float* __restrict__ val, int hin, int hout, int w,
                               int64_t total) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int j = int(t % w);
    const int64_t r = t / w;
    const int i = int(r % hout);
    const int64_t p = r / hout;
    const float* src = in + p * hin * int64_t(w) + j;
    float s = 0.0f;
    for (int k = ptr[i]; k < ptr[i + 1]; ++k) s += val[k] * src[int64_t(idx[k]) * w];
    out[t] = s;
  }
}

}  // namespace

void ops_csr_along_w_cuda(const SeparableArgs& a, Stream s) {
  const int64_t total = a.planes * a.extent * int64_t(a.m.rows);
  if (total == 0) return;
  along_w_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a.in, a.out, a.m.ptr, a.m.idx, a.m.val, a.m.cols,
                                                                 a.m.rows, total);
  RD_CUDA_CHECK_LAUNCH("csr_along_w");
}

void ops_csr_along_h_cuda(const SeparableArgs& a, Stream s) {
  const int64_t total = a.planes * int64_t(a.m.rows) * a.extent;
  if (total == 0) return;
  along_h_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a.in, a.out, a.m.ptr, a.m.idx, a.m.val, a.m.cols,
                                                                 a.m.rows, a.extent, total);
  RD_CUDA_CHECK_LAUNCH("csr_along_h");
}

}  // namespace reddiff
