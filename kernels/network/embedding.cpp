#include "kernels/network/embedding.h"

#include "kernels/cpu_storage.h"

namespace reddiff {

void timestep_embedding_cpu(const TimestepEmbedArgs& a, Stream) {
  int half = a.dim / 2;
  for (int n = 0; n < a.n; ++n) {
    float* y = a.y + int64_t(n) * a.dim;
    for (int i = 0; i < half; ++i) {
      float arg = a.t[n] * timestep_frequency(i, half);
      y[i] = std::cos(arg);
      y[half + i] = std::sin(arg);
    }
    if (a.dim % 2) y[a.dim - 1] = 0.0f;
  }
}

void silu_cpu(const SiluArgs& a, Stream) {
  for (int64_t i = 0; i < a.n; ++i) a.y[i] = silu(a.x[i]);
}

void label_embedding_add_cpu(const LabelEmbedArgs& a, Stream) {
  for (int n = 0; n < a.n; ++n)
    for (int i = 0; i < a.dim; ++i) a.emb[int64_t(n) * a.dim + i] += a.table[int64_t(a.labels[n]) * a.dim + i];
}

void bias_residual_cpu(const BiasResidualArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    auto* y = static_cast<typename S::T*>(a.y);
    const auto* r = static_cast<const typename S::T*>(a.residual);
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < a.rows; ++row)
      for (int c = 0; c < a.c; ++c) {
        int64_t i = row * a.c + c;
        float v = S::load(y, i);
        if (a.bias) v += a.bias[c];
        if (r) v += S::load(r, i);
        S::store(y, i, v);
      }
  });
}

}  // namespace reddiff
