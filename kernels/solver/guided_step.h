// The element work of the gradient-guided samplers (DPS, solvers/dps_solver.h; PiGDM,
// solvers/pigdm_solver.h) beside the network, its VJP and the operator, as kernel pairs:
//   guided_init        x = a * base + b * z,  z ~ N(0, I) keyed by (seed, image id, step 0, kNoiseInit)
//   guided_x0          x0 = x / sqrt(ab) - sqrt(1/ab - 1) * eps_hat   (optionally clamped to [-1, 1])
//   image_moments      per image: d = a - b (stored if asked), sums[2k] = sum d, sums[2k+1] = sum d^2 (double)
//   dps_cotangent      the DPS data-term gradient at x0 and the network cotangent it implies
//   dps_update         the ancestral DDPM step minus zeta times the guidance gradient
//   pigdm_cotangent    the PiGDM guidance vector at x0 and the network cotangent it implies
//   pigdm_update       the DDIM step plus the PiGDM guidance
// All images are NCHW f32 [n, c, h, w]; eps_hat and the cotangent have the network output's channels
// [n, eps_hat_channels, h, w] (eps in the first c; a learned-variance model's v in the next c). Noise is
// Philox keyed by (seed, image id, step, stream, element), as every solver's (kernels/philox.h).
#pragma once
#include "kernels/kernel_common.h"

namespace reddiff {

struct GuidedInitArgs {
  float* x = nullptr;
  const float* base = nullptr;          // may be null when a == 0
  const uint64_t* image_ids = nullptr;  // host pointer for _cpu, device pointer for _cuda
  uint64_t seed = 0;
  int n = 0;
  int64_t image_numel = 0;
  float a = 0, b = 1;
};
void guided_init_cpu(const GuidedInitArgs& a, Stream s);
void guided_init_cuda(const GuidedInitArgs& a, Stream s);
inline void guided_init_check(const GuidedInitArgs& a) {
  const char* k = "guided_init";
  const bool work = kernel_require_batch(a.n, 1, a.image_numel, k);
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.image_ids, work, k, "image id");
  kernel_require_data(a.base, work && a.a != 0.0f, k, "base");
}
RD_KERNEL_DISPATCHER(guided_init, GuidedInitArgs)

struct GuidedX0Args {
  const float* x = nullptr;
  const float* eps_hat = nullptr;
  int eps_hat_channels = 3;
  float* x0 = nullptr;
  int n = 0, c = 3;
  int64_t hw = 0;
  float recip = 1, recipm1 = 0;  // sqrt(1/ab), sqrt(1/ab - 1)
  bool clip = false;
};
void guided_x0_cpu(const GuidedX0Args& a, Stream s);
void guided_x0_cuda(const GuidedX0Args& a, Stream s);
inline void guided_x0_check(const GuidedX0Args& a) {
  const char* k = "guided_x0";
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require_eps_hat(a.eps_hat_channels, a.c, k);
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.eps_hat, work, k, "eps_hat");
  kernel_require_data(a.x0, work, k, "x0");
}
RD_KERNEL_DISPATCHER(guided_x0, GuidedX0Args)

struct ImageMomentsArgs {
  const float* a = nullptr;
  const float* b = nullptr;  // subtracted when given
  float* diff = nullptr;     // a - b written here when given (may alias a)
  double* sums = nullptr;    // [n][2]: sum and sum of squares of a - b over each image
  int n = 0;
  int64_t image_numel = 0;
};
void image_moments_cpu(const ImageMomentsArgs& a, Stream s);
void image_moments_cuda(const ImageMomentsArgs& a, Stream s);
inline void image_moments_check(const ImageMomentsArgs& a) {
  const char* k = "image_moments";
  kernel_require_batch(a.n, 1, a.image_numel, k);
  kernel_require_data(a.a, int64_t(a.n) * a.image_numel > 0, k, "a");
  kernel_require_data(a.sums, a.n > 0, k, "sums");
}
RD_KERNEL_DISPATCHER(image_moments, ImageMomentsArgs)

// DPS (gradient of ||y - A(x0_hat(x))|| per image, through the clamp of x0_hat):
//   g      <- [|u| <= 1] * g / max(||r||, tiny),  u the unclamped x0, g = J_A(x0)^T (A(x0) - y) on entry,
//             ||r|| = sqrt(sums[2k+1]) (image_moments of A(x0) - y)
//   cot    <- -recipm1 * g in the eps channels, 0 in the others
// so that the gradient w.r.t. x is recip * g + J_eps^T cot.
struct DpsCotangentArgs {
  const float* x = nullptr;
  const float* eps_hat = nullptr;
  int eps_hat_channels = 3;
  float* g = nullptr;
  const double* sums = nullptr;
  float* cot = nullptr;
  int n = 0, c = 3;
  int64_t hw = 0;
  float recip = 1, recipm1 = 0;
};
void dps_cotangent_cpu(const DpsCotangentArgs& a, Stream s);
void dps_cotangent_cuda(const DpsCotangentArgs& a, Stream s);
inline void dps_cotangent_check(const DpsCotangentArgs& a) {
  const char* k = "dps_cotangent";
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require_eps_hat(a.eps_hat_channels, a.c, k);
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.eps_hat, work, k, "eps_hat");
  kernel_require_data(a.g, work, k, "g");
  kernel_require_data(a.sums, work, k, "sums");
  kernel_require_data(a.cot, work, k, "cotangent");
}
RD_KERNEL_DISPATCHER(dps_cotangent, DpsCotangentArgs)

// x <- coef1 * x0 + coef2 * x + [noise] exp(0.5 logvar) z - zeta * (recip * g + gx),  z keyed by
// (seed, image id, step, kNoiseSampler). logvar = frac * log_var_max + (1 - frac) * log_var_min with
// frac = (v + 1) / 2 (learned_sigma: v is the model's variance channel), else log_var_min.
struct DpsUpdateArgs {
  float* x = nullptr;
  const float* x0 = nullptr;
  const float* eps_hat = nullptr;
  int eps_hat_channels = 3;
  bool learned_sigma = false;
  const float* g = nullptr;
  const float* gx = nullptr;
  const uint64_t* image_ids = nullptr;
  uint64_t seed = 0;
  uint32_t step = 0;
  int n = 0, c = 3;
  int64_t hw = 0;
  float coef1 = 0, coef2 = 1, recip = 1, zeta = 0, log_var_min = 0, log_var_max = 0;
  bool noise = true;
};
void dps_update_cpu(const DpsUpdateArgs& a, Stream s);
void dps_update_cuda(const DpsUpdateArgs& a, Stream s);
inline void dps_update_check(const DpsUpdateArgs& a) {
  const char* k = "dps_update";
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  const bool variance = a.noise && a.learned_sigma;
  kernel_require_eps_hat(a.eps_hat_channels, variance ? 2 * a.c : a.c, k);
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.x0, work, k, "x0");
  kernel_require_data(a.g, work, k, "g");
  kernel_require_data(a.gx, work, k, "gx");
  kernel_require_data(a.eps_hat, work && variance, k, "eps_hat");
  kernel_require_data(a.image_ids, work && a.noise, k, "image id");
}
RD_KERNEL_DISPATCHER(dps_update, DpsUpdateArgs)

// PiGDM (gradient of <sg(A+ y - A+ A(x0)), x0> + contrast * std(x0), per image):
//   g   <- pinv_y - g + contrast * (x0 - mean) / ((N - 1) std)   (g = A+(A(x0)) on entry; mean, std from
//          x0_sums = image_moments of x0, unbiased std as torch.std; the contrast term only when contrast != 0)
//   cot <- -recipm1 * g in the eps channels, 0 in the others
struct PigdmCotangentArgs {
  const float* x0 = nullptr;
  const float* pinv_y = nullptr;
  float* g = nullptr;
  const double* x0_sums = nullptr;  // needed when contrast != 0
  float contrast = 0;
  float* cot = nullptr;
  int eps_hat_channels = 3;
  int n = 0, c = 3;
  int64_t hw = 0;
  float recipm1 = 0;
};
void pigdm_cotangent_cpu(const PigdmCotangentArgs& a, Stream s);
void pigdm_cotangent_cuda(const PigdmCotangentArgs& a, Stream s);
inline void pigdm_cotangent_check(const PigdmCotangentArgs& a) {
  const char* k = "pigdm_cotangent";
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require_eps_hat(a.eps_hat_channels, a.c, k);
  kernel_require_data(a.pinv_y, work, k, "pinv_y");
  kernel_require_data(a.g, work, k, "g");
  kernel_require_data(a.cot, work, k, "cotangent");
  kernel_require_data(a.x0, work && a.contrast != 0.0f, k, "x0");
  kernel_require_data(a.x0_sums, work && a.contrast != 0.0f, k, "x0 sums");
}
RD_KERNEL_DISPATCHER(pigdm_cotangent, PigdmCotangentArgs)

// grad = recip * g + gx; with a mask m ([n, 1, h, w], 1 = observed): x0 <- x0 (1 - m) + pinv_y m and
// grad <- grad (1 - m). Then x <- sqrt_abar_s * x0 + c1 z + c2 eps_hat + coeff * grad, z keyed by
// (seed, image id, step, kNoiseSampler) (drawn only when c1 != 0).
struct PigdmUpdateArgs {
  float* x = nullptr;
  const float* x0 = nullptr;
  const float* eps_hat = nullptr;
  int eps_hat_channels = 3;
  const float* g = nullptr;
  const float* gx = nullptr;
  const float* mask = nullptr;
  const float* pinv_y = nullptr;
  const uint64_t* image_ids = nullptr;
  uint64_t seed = 0;
  uint32_t step = 0;
  int n = 0, c = 3;
  int64_t hw = 0;
  float sqrt_abar_s = 1, c1 = 0, c2 = 0, coeff = 0, recip = 1;
};
void pigdm_update_cpu(const PigdmUpdateArgs& a, Stream s);
void pigdm_update_cuda(const PigdmUpdateArgs& a, Stream s);
inline void pigdm_update_check(const PigdmUpdateArgs& a) {
  const char* k = "pigdm_update";
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require_eps_hat(a.eps_hat_channels, a.c, k);
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.x0, work, k, "x0");
  kernel_require_data(a.eps_hat, work, k, "eps_hat");
  kernel_require_data(a.g, work, k, "g");
  kernel_require_data(a.gx, work, k, "gx");
  kernel_require_data(a.pinv_y, work && a.mask, k, "pinv_y");
  kernel_require_data(a.image_ids, work && a.c1 != 0.0f, k, "image id");
}
RD_KERNEL_DISPATCHER(pigdm_update, PigdmUpdateArgs)

// ---- shared element math

RD_HD float guided_unclamped_x0(float x, float eps, float recip, float recipm1) { return recip * x - recipm1 * eps; }

RD_HD float guided_clamp1(float v) { return v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v); }

// 1 / max(||r||, tiny): a zero residual gives a zero gradient (torch would give NaN).
RD_HD float dps_inv_norm(double sum_sq) { return sum_sq > 1e-30 ? float(1.0 / sqrt(sum_sq)) : 0.0f; }

// d std / d v_e = (v_e - mean) / ((N - 1) std), torch.std's unbiased estimate; 0 for a constant image.
RD_HD float std_grad_scale(double sum, double sum_sq, int64_t numel, double* mean) {
  double N = double(numel);
  *mean = sum / N;
  double var = (sum_sq - sum * *mean) / (N - 1.0);
  return var > 1e-30 ? float(1.0 / ((N - 1.0) * sqrt(var))) : 0.0f;
}

}  // namespace reddiff
