// CPU twins of kernels/operator/separable.h.
#include "kernels/operator/separable.h"

namespace reddiff {

void ops_csr_along_w_cpu(const SeparableArgs& a, Stream) {
  const int64_t rows = a.planes * a.extent;
  const int win = a.m.cols, wout = a.m.rows;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = a.in + r * win;
    float* out = a.out + r * wout;
    for (int j = 0; j < wout; ++j) {
      float s = 0.0f;
      for (int k = a.m.ptr[j]; k < a.m.ptr[j + 1]; ++k) s += a.m.val[k] * in[a.m.idx[k]];
      out[j] = s;
    }
  }
}

void ops_csr_along_h_cpu(const SeparableArgs& a, Stream) {
  const int w = a.extent, hin = a.m.cols, hout = a.m.rows;
  const int64_t rows = a.planes * hout;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = r / hout;
    const int i = int(r % hout);
    const float* in = a.in + p * hin * w;
    float* out = a.out + r * w;
    for (int j = 0; j < w; ++j) out[j] = 0.0f;
    for (int k = a.m.ptr[i]; k < a.m.ptr[i + 1]; ++k) {
      const float v = a.m.val[k];
      const float* src = in + int64_t(a.m.idx[k]) * w;
      for (int j = 0; j < w; ++j) out[j] += v * src[j];
    }
  }
}

}  // namespace reddiff
