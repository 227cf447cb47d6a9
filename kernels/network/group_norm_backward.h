// Backward of the fused GroupNorm (kernels/network/group_norm.h) w.r.t. its activation input x, for the
// network's VJP; the modulation (scale-shift or additive embedding) is a constant, as are gamma/beta.
// With v = x (+ e for AddBias), mean/rstd its group statistics, xh = (v - mean) * rstd,
// z = xh * A_c + B_c (A_c = gamma_c (1 + s_c), B_c = beta_c (1 + s_c) + b_c for ScaleShift, s = b = 0
// otherwise), y = silu(z) or z:
//   g_xh = gy * silu'(z) * A_c,  gx = rstd * (g_xh - mean_g(g_xh) - xh * mean_g(g_xh * xh))
// Statistics are recomputed from x (the forward keeps only x). gx (+)= the result (accumulate).
#pragma once
#include "kernels/network/group_norm.h"

namespace reddiff {

struct GroupNormBackwardArgs {
  const void* x = nullptr;
  DType x_dtype = DType::F32;
  const void* gy = nullptr;
  DType gy_dtype = DType::F32;
  void* gx = nullptr;  // dtype x_dtype
  int n = 0, hw = 0, c = 0, groups = 32;
  float eps = 1e-5f;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const float* mod = nullptr;
  int mod_stride = 0;  // as GroupNormArgs::mod_stride
  NormMod mode = NormMod::None;
  bool silu = false;
  bool accumulate = false;
};

void group_norm_backward_cpu(const GroupNormBackwardArgs& a, Stream s);
void group_norm_backward_cuda(const GroupNormBackwardArgs& a, Stream s);
inline void group_norm_backward_check(const GroupNormBackwardArgs& a) {
  const char* k = "group_norm_backward";
  group_norm_check_common(k, a.n, a.hw, a.c, a.groups, a.x_dtype, a.gamma, a.beta, a.mod, a.mod_stride, a.mode);
  kernel_require_act_dtype(a.gy_dtype, k);
  const bool work = int64_t(a.n) * a.hw > 0;
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.gy, work, k, "gy");
  kernel_require_data(a.gx, work, k, "gx");
}
RD_KERNEL_DISPATCHER(group_norm_backward, GroupNormBackwardArgs)

// d silu(z) / dz
RD_HD float silu_grad(float z) {
  float s = 1.0f / (1.0f + expf(-z));
  return s * (1.0f + z * (1.0f - s));
}

// Per-channel coefficients of image n's normalised value: z = xh * A + B (ms: group_norm_mod_stride).
RD_HD void group_norm_affine(const float* gamma, const float* beta, const float* mod, int64_t ms, NormMod mode, int n,
                             int c, int ch, float* A, float* B) {
  float a = gamma[ch], b = beta[ch];
  if (mode == NormMod::ScaleShift) {
    const float* m = mod + int64_t(n) * ms;
    a *= 1.0f + m[ch];
    b = b * (1.0f + m[ch]) + m[c + ch];
  }
  *A = a, *B = b;
}

// g_xh of one element: the gradient reaching the normalised value xh.
RD_HD float group_norm_grad_xh(float gy, float xh, float A, float B, bool silu) {
  return (silu ? gy * silu_grad(xh * A + B) : gy) * A;
}

}  // namespace reddiff
