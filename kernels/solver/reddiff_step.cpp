#include "kernels/solver/reddiff_step.h"

#include <cmath>

#include "kernels/philox.h"

namespace reddiff {

void adam_bias_corrections(const AdamState& adam, int k, RedDiffStepScalars& s) {
  s.bc1 = 1.0f - std::pow(adam.beta1, float(k));
  s.bc2_sqrt = std::sqrt(1.0f - std::pow(adam.beta2, float(k)));
}

void reddiff_step_begin_cpu(const RedDiffStepBeginArgs& a, Stream) {
  *a.current = a.table[*a.counter];
  for (int i = 0; i < a.n; ++i) a.t_in[i] = a.current->t;
  ++*a.counter;
}

void reddiff_noise_cpu(const RedDiffNoiseArgs& a, Stream) {
  const RedDiffStepScalars sc = *a.scalars;
  for (int n = 0; n < a.n; ++n) {
    int64_t base = int64_t(n) * a.image_numel;
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < a.image_numel; ++e) {
      float eps = philox_normal(a.seed, a.image_ids[n], sc.step, kNoiseEps, uint64_t(e));
      float x0 = a.mu[base + e];
      if (a.sigma_x0 != 0.0f) x0 += a.sigma_x0 * philox_normal(a.seed, a.image_ids[n], sc.step, kNoiseX0, uint64_t(e));
      if (a.x0) a.x0[base + e] = x0;
      a.eps[base + e] = eps;
      a.xt[base + e] = sc.sqrt_abar * x0 + sc.sqrt_1m_abar * eps;
    }
  }
}

void reddiff_update_cpu(const RedDiffUpdateArgs& a, Stream) {
  const RedDiffStepScalars sc = *a.scalars;
  int64_t img = int64_t(a.c) * a.hw;
  for (int n = 0; n < a.n; ++n) {
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < img; ++e) {
      int64_t i = int64_t(n) * img + e;
      float eh = a.eps_hat[int64_t(n) * a.eps_hat_channels * a.hw + e];  // first c channels of the output
      float g = sc.prior_weight * (eh - a.eps[i]);
      if (a.g_data) g += a.data_weight * a.g_data[i];
      adam_element(&a.mu[i], &a.m[i], &a.v[i], g, a.adam.lr, a.adam.beta1, a.adam.beta2, a.adam.eps, sc.bc1,
                   sc.bc2_sqrt);
    }
  }
}

void noise_fill_cpu(const NoiseFillArgs& a, Stream) {
  for (int n = 0; n < a.n; ++n)
    for (int64_t e = 0; e < a.image_numel; ++e)
      a.x[int64_t(n) * a.image_numel + e] =
          a.scale * philox_normal(a.seed, a.image_ids[n], a.step, a.stream, uint64_t(e));
}

}  // namespace reddiff
