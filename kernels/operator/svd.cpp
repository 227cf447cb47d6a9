// CPU twins of kernels/operator/svd.h.
#include "kernels/operator/svd.h"

namespace reddiff {

void ops_channel_matrix_cpu(const ChannelMatrixArgs& a, Stream) {
  const int64_t total = int64_t(a.n) * a.hw;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < total; ++t) {
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

}  // namespace reddiff
