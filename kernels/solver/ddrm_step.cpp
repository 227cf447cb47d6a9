// CPU twins of kernels/solver/ddrm_step.h.
#include "kernels/solver/ddrm_step.h"

#include "kernels/philox.h"

namespace reddiff {

void ddrm_prepare_cpu(const DdrmPrepareArgs& a, Stream) {
  const int64_t img = int64_t(a.c) * a.hw, total = int64_t(a.n) * img;
  const float inv = 1.0f / a.sqrt_abar;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; ++i) {
    const int64_t n = i / img, e = i % img;
    const float eps = a.eps_hat[n * a.eps_hat_channels * a.hw + e];
    a.eps[i] = eps;
    a.x0[i] = (a.xt[i] - a.sqrt_1m_abar * eps) * inv;
  }
}

void ddrm_update_cpu(const DdrmUpdateArgs& a, Stream) {
  const int64_t total = int64_t(a.n) * a.image_numel;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; ++i) {
    const int64_t n = i / a.image_numel, e = i % a.image_numel;
    const float z = a.noise ? a.noise[i] : philox_normal(a.seed, a.image_ids[n], a.step, kNoiseSampler, uint64_t(e));
    a.v[i] =
        a.sqrt_abar_next * ddrm_next(a.v[i], a.v_eps[i], a.uty[i], a.s[i], z, a.sigma_next, a.sigma_0, a.eta, a.eta_b);
  }
}

void ddrm_init_cpu(const DdrmInitArgs& a, Stream) {
  const int64_t total = int64_t(a.n) * a.image_numel;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; ++i) {
    const int64_t n = i / a.image_numel, e = i % a.image_numel;
    const float z = a.noise ? a.noise[i] : philox_normal(a.seed, a.image_ids[n], 0, kNoiseInit, uint64_t(e));
    a.v[i] = ddrm_start(a.uty[i], a.s[i], z, a.sigma_T, a.sigma_0);
  }
}

}  // namespace reddiff
