// The work of one DDRM step beside the network and the SVD maps (Kawar et al. 2022, as bahjat-kawar/ddrm
// functions/denoising.py efficient_generalized_steps), as kernel pairs (CPU twin + CUDA):
//   ddrm_prepare: x0 = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t), and eps_hat's first c channels
//                 copied out contiguously (the network output may have 2c channels);
//   ddrm_update:  per spectral coordinate (V^T x0, V^T eps_hat, U^T y, s), the next spectral value of
//                 x_{t-1}, times sqrt(abar_{t-1}) (ddrm_next below);
//   ddrm_init:    the spectral x_T (ddrm_start below).
// Noise is N(0, 1) keyed by (seed, image id, step, coordinate) (kernels/philox.h): a result does not depend
// on the batch. Spectral buffers are [n, image_numel] f32.
#pragma once
#include "kernels/kernel_common.h"

namespace reddiff {

// One coordinate of the update, in the scaled variable x_t / sqrt(abar_t) (sigma_t = sqrt((1 - abar)/abar)).
// vx0 = (V^T x0)_k, ve = (V^T eps_hat)_k, uty = (U^T y)_k, s = s_k, z ~ N(0, 1), sigma_0 = the noise std of
// y in [-1, 1] units, eta = the official etaA = etaC, eta_b = etaB:
//   s > 0, s sigma_next > sigma_0 ("noisier than y"):
//       eta_b uty/s + (1 - eta_b) vx0 + sqrt(sigma_next^2 - eta_b^2 sigma_0^2 / s^2) z
//   s > 0, s sigma_next < sigma_0 ("less noisy than y"):
//       vx0 + sqrt(1 - eta^2) sigma_next (uty - s vx0) / sigma_0 + eta sigma_next z
//   otherwise (s = 0: not measured; or s sigma_next = sigma_0 exactly, as the official code):
//       vx0 + sqrt(1 - eta^2) sigma_next ve + eta sigma_next z
// After the last step sigma_next = 0 and every case gives vx0.
RD_HD float ddrm_next(float vx0, float ve, float uty, float s, float z, float sigma_next, float sigma_0, float eta,
                      float eta_b) {
  if (s > 0.0f && s * sigma_next > sigma_0) {
    const float r = sigma_0 / s * eta_b;
    const float d = sqrtf(fmaxf(sigma_next * sigma_next - r * r, 0.0f));
    return eta_b * (uty / s) + (1.0f - eta_b) * vx0 + d * z;
  }
  const float tilde = sigma_next * sqrtf(fmaxf(1.0f - eta * eta, 0.0f)), sd = sigma_next * eta;
  if (s > 0.0f && s * sigma_next < sigma_0) return vx0 + tilde * (uty - s * vx0) / sigma_0 + sd * z;
  return vx0 + tilde * ve + sd * z;
}

// The spectral x_T of the official initialisation, with L = sigma at the first timestep:
//   s > 0, s L > sigma_0:  (uty/s + sqrt(L^2 - sigma_0^2/s^2) z) / L;   otherwise  z.
// (The official code divides by L where x_T = sqrt(abar_T) x_T/sqrt(abar_T) would multiply by sqrt(abar_T);
// the two differ by the factor sqrt(1 - abar_T), 1 - 2e-5 at t = 950 of the linear schedule.)
RD_HD float ddrm_start(float uty, float s, float z, float L, float sigma_0) {
  if (s > 0.0f && s * L > sigma_0) {
    const float r = sigma_0 / s;
    return (uty / s + sqrtf(fmaxf(L * L - r * r, 0.0f)) * z) / L;
  }
  return z;
}

struct DdrmPrepareArgs {
  const float* xt = nullptr;       // [n, c, hw]
  const float* eps_hat = nullptr;  // [n, eps_hat_channels, hw]
  int eps_hat_channels = 3;
  float* x0 = nullptr;   // [n, c, hw]
  float* eps = nullptr;  // [n, c, hw]
  int n = 0, c = 3;
  int64_t hw = 0;
  float sqrt_abar = 1, sqrt_1m_abar = 0;
};
void ddrm_prepare_cpu(const DdrmPrepareArgs& a, Stream s);
void ddrm_prepare_cuda(const DdrmPrepareArgs& a, Stream s);
inline void ddrm_prepare_check(const DdrmPrepareArgs& a) {
  const char* k = "ddrm_prepare";
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require_eps_hat(a.eps_hat_channels, a.c, k);
  kernel_require_data(a.xt, work, k, "xt");
  kernel_require_data(a.eps_hat, work, k, "eps_hat");
  kernel_require_data(a.x0, work, k, "x0");
  kernel_require_data(a.eps, work, k, "eps");
}
RD_KERNEL_DISPATCHER(ddrm_prepare, DdrmPrepareArgs)

struct DdrmUpdateArgs {
  float* v = nullptr;                   // in: V^T x0; out: sqrt(abar_next) * the next spectral value (in place)
  const float* v_eps = nullptr;         // V^T eps_hat
  const float* uty = nullptr;           // U^T y (spectral)
  const float* s = nullptr;             // singular values [n, image_numel]
  const float* noise = nullptr;         // tests only: z read from here [n, image_numel] instead of drawn
  const uint64_t* image_ids = nullptr;  // [n], host pointer for _cpu, device pointer for _cuda
  uint64_t seed = 0;
  uint32_t step = 0;
  int n = 0;
  int64_t image_numel = 0;
  float sigma_next = 0, sigma_0 = 0, eta = 0.85f, eta_b = 1, sqrt_abar_next = 1;
};
void ddrm_update_cpu(const DdrmUpdateArgs& a, Stream s);
void ddrm_update_cuda(const DdrmUpdateArgs& a, Stream s);
inline void ddrm_update_check(const DdrmUpdateArgs& a) {
  const char* k = "ddrm_update";
  const bool work = kernel_require_batch(a.n, 1, a.image_numel, k);
  kernel_require_data(a.v, work, k, "v");
  kernel_require_data(a.v_eps, work, k, "v_eps");
  kernel_require_data(a.uty, work, k, "uty");
  kernel_require_data(a.s, work, k, "s");
  kernel_require_data(a.image_ids, work && !a.noise, k, "image id");
}
RD_KERNEL_DISPATCHER(ddrm_update, DdrmUpdateArgs)

struct DdrmInitArgs {
  float* v = nullptr;  // out: the spectral x_T
  const float* uty = nullptr;
  const float* s = nullptr;
  const float* noise = nullptr;  // tests only, as above
  const uint64_t* image_ids = nullptr;
  uint64_t seed = 0;
  int n = 0;
  int64_t image_numel = 0;
  float sigma_T = 1, sigma_0 = 0;
};
void ddrm_init_cpu(const DdrmInitArgs& a, Stream s);
void ddrm_init_cuda(const DdrmInitArgs& a, Stream s);
inline void ddrm_init_check(const DdrmInitArgs& a) {
  const char* k = "ddrm_init";
  const bool work = kernel_require_batch(a.n, 1, a.image_numel, k);
  kernel_require_data(a.v, work, k, "v");
  kernel_require_data(a.uty, work, k, "uty");
  kernel_require_data(a.s, work, k, "s");
  kernel_require_data(a.image_ids, work && !a.noise, k, "image id");
}
RD_KERNEL_DISPATCHER(ddrm_init, DdrmInitArgs)

}  // namespace reddiff
