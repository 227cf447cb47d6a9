#include "kernels/solver/guided_step.h"

#include <cmath>

#include "kernels/philox.h"

namespace reddiff {

void guided_init_cpu(const GuidedInitArgs& a, Stream) {
  for (int n = 0; n < a.n; ++n) {
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < a.image_numel; ++e) {
      int64_t i = int64_t(n) * a.image_numel + e;
      float z = philox_normal(a.seed, a.image_ids[n], 0, kNoiseInit, uint64_t(e));
      a.x[i] = (a.base ? a.a * a.base[i] : 0.0f) + a.b * z;
    }
  }
}

void guided_x0_cpu(const GuidedX0Args& a, Stream) {
  int64_t img = int64_t(a.c) * a.hw;
  for (int n = 0; n < a.n; ++n) {
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < img; ++e) {
      int64_t i = int64_t(n) * img + e;
      float u = guided_unclamped_x0(a.x[i], a.eps_hat[int64_t(n) * a.eps_hat_channels * a.hw + e], a.recip, a.recipm1);
      a.x0[i] = a.clip ? guided_clamp1(u) : u;
    }
  }
}

void image_moments_cpu(const ImageMomentsArgs& a, Stream) {
  for (int n = 0; n < a.n; ++n) {
    double s1 = 0, s2 = 0;
    const int64_t base = int64_t(n) * a.image_numel;
#pragma omp parallel for schedule(static) reduction(+ : s1, s2)
    for (int64_t e = 0; e < a.image_numel; ++e) {
      float d = a.b ? a.a[base + e] - a.b[base + e] : a.a[base + e];
      if (a.diff) a.diff[base + e] = d;
      s1 += double(d);
      s2 += double(d) * double(d);
    }
    a.sums[2 * n] = s1;
    a.sums[2 * n + 1] = s2;
  }
}

void dps_cotangent_cpu(const DpsCotangentArgs& a, Stream) {
  int64_t img = int64_t(a.c) * a.hw, out_img = int64_t(a.eps_hat_channels) * a.hw;
  for (int n = 0; n < a.n; ++n) {
    float inv = dps_inv_norm(a.sums[2 * n + 1]);
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < out_img; ++e) {
      int64_t o = int64_t(n) * out_img + e;
      if (e >= img) {
        a.cot[o] = 0.0f;
        continue;
      }
      int64_t i = int64_t(n) * img + e;
      float u = guided_unclamped_x0(a.x[i], a.eps_hat[o], a.recip, a.recipm1);
      float g = (u >= -1.0f && u <= 1.0f) ? a.g[i] * inv : 0.0f;
      a.g[i] = g;
      a.cot[o] = -a.recipm1 * g;
    }
  }
}

void dps_update_cpu(const DpsUpdateArgs& a, Stream) {
  int64_t img = int64_t(a.c) * a.hw, out_img = int64_t(a.eps_hat_channels) * a.hw;
  for (int n = 0; n < a.n; ++n) {
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < img; ++e) {
      int64_t i = int64_t(n) * img + e;
      float v = a.x[i];
      float out = a.coef1 * a.x0[i] + a.coef2 * v - a.zeta * (a.recip * a.g[i] + a.gx[i]);
      if (a.noise) {
        float lv = a.log_var_min;
        if (a.learned_sigma) {
          float frac = (a.eps_hat[int64_t(n) * out_img + img + e] + 1.0f) * 0.5f;
          lv = frac * a.log_var_max + (1.0f - frac) * a.log_var_min;
        }
        out += expf(0.5f * lv) * philox_normal(a.seed, a.image_ids[n], a.step, kNoiseSampler, uint64_t(e));
      }
      a.x[i] = out;
    }
  }
}

void pigdm_cotangent_cpu(const PigdmCotangentArgs& a, Stream) {
  int64_t img = int64_t(a.c) * a.hw, out_img = int64_t(a.eps_hat_channels) * a.hw;
  for (int n = 0; n < a.n; ++n) {
    double mean = 0;
    float k =
        a.contrast != 0.0f ? a.contrast * std_grad_scale(a.x0_sums[2 * n], a.x0_sums[2 * n + 1], img, &mean) : 0.0f;
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < out_img; ++e) {
      int64_t o = int64_t(n) * out_img + e;
      if (e >= img) {
        a.cot[o] = 0.0f;
        continue;
      }
      int64_t i = int64_t(n) * img + e;
      float g = a.pinv_y[i] - a.g[i];
      if (k != 0.0f) g += k * float(double(a.x0[i]) - mean);
      a.g[i] = g;
      a.cot[o] = -a.recipm1 * g;
    }
  }
}

void pigdm_update_cpu(const PigdmUpdateArgs& a, Stream) {
  int64_t img = int64_t(a.c) * a.hw, out_img = int64_t(a.eps_hat_channels) * a.hw;
  for (int n = 0; n < a.n; ++n) {
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < img; ++e) {
      int64_t i = int64_t(n) * img + e;
      float x0 = a.x0[i], grad = a.recip * a.g[i] + a.gx[i];
      if (a.mask) {
        float m = a.mask[int64_t(n) * a.hw + e % a.hw];
        x0 = x0 * (1.0f - m) + a.pinv_y[i] * m;
        grad = grad * (1.0f - m);
      }
      float out = a.sqrt_abar_s * x0 + a.c2 * a.eps_hat[int64_t(n) * out_img + e] + a.coeff * grad;
      if (a.c1 != 0.0f) out += a.c1 * philox_normal(a.seed, a.image_ids[n], a.step, kNoiseSampler, uint64_t(e));
      a.x[i] = out;
    }
  }
}

}  // namespace reddiff
