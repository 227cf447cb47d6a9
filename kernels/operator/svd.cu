// CUDA twins of kernels/operator/svd.h: one thread per pixel.
#include "base/cuda_check.h"
#include "kernels/operator/svd.h"

namespace reddiff {
namespace {

__global__ void channel_matrix_kernel(ChannelMatrixArgs a, int64_t total) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t / a.hw, p = t % a.hw;
    const float* in = a.in + i * a.cols * a.hw + p;
    float* out = a.out + i * a.rows * a.hw + p;
    for (int r = 0; r < a.rows; ++r) {
      float s = 0.0f;
      for (int c = 0; c < a.cols; ++c) s += a.m[r * a.cols + c] * in[c * a.hw];
      out[r * a.hw] = s;
    }
  }
}

}  // namespace

void ops_channel_matrix_cuda(const ChannelMatrixArgs& a, Stream s) {
  const int64_t total = int64_t(a.n) * a.hw;
  if (total == 0) return;
  channel_matrix_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a, total);
  RD_CUDA_CHECK_LAUNCH("channel_matrix");
}

}  // namespace reddiff
