// CUDA twins of kernels/solver/guided_step.cpp (the DPS and PiGDM step kernels).
#include <cmath>

#include "base/cuda_check.h"
#include "kernels/philox.h"
#include "kernels/solver/guided_step.h"

namespace reddiff {

namespace {

constexpr int kBlock = 256;
constexpr int kReduceBlock = 512;  // image_moments: one block per image, a power of two

#define RD_GRID_LOOP(i, total) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (total); i += int64_t(gridDim.x) * blockDim.x)

__global__ void guided_init_kernel(GuidedInitArgs a) {
  int64_t total = int64_t(a.n) * a.image_numel;
  RD_GRID_LOOP(i, total) {
    int64_t n = i / a.image_numel, e = i % a.image_numel;
    float z = philox_normal(a.seed, a.image_ids[n], 0, kNoiseInit, uint64_t(e));
    a.x[i] = (a.base ? a.a * a.base[i] : 0.0f) + a.b * z;
  }
}

__global__ void guided_x0_kernel(GuidedX0Args a) {
  int64_t img = int64_t(a.c) * a.hw, total = int64_t(a.n) * img;
  RD_GRID_LOOP(i, total) {
    int64_t n = i / img, e = i % img;
    float u = guided_unclamped_x0(a.x[i], a.eps_hat[n * a.eps_hat_channels * a.hw + e], a.recip, a.recipm1);
    a.x0[i] = a.clip ? guided_clamp1(u) : u;
  }
}

// One block per image; a fixed per-thread stride and a fixed tree, so the sums are deterministic.
__global__ void image_moments_kernel(ImageMomentsArgs a) {
  __shared__ double s1[kReduceBlock], s2[kReduceBlock];
  const int n = blockIdx.x;
  const int64_t base = int64_t(n) * a.image_numel;
  double t1 = 0, t2 = 0;
  for (int64_t e = threadIdx.x; e < a.image_numel; e += blockDim.x) {
    float d = a.b ? a.a[base + e] - a.b[base + e] : a.a[base + e];
    if (a.diff) a.diff[base + e] = d;
    t1 += double(d);
    t2 += double(d) * double(d);
  }
  s1[threadIdx.x] = t1;
  s2[threadIdx.x] = t2;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) {
      s1[threadIdx.x] += s1[threadIdx.x + half];
      s2[threadIdx.x] += s2[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    a.sums[2 * n] = s1[0];
    a.sums[2 * n + 1] = s2[0];
  }
}

__global__ void dps_cotangent_kernel(DpsCotangentArgs a) {
  int64_t img = int64_t(a.c) * a.hw, out_img = int64_t(a.eps_hat_channels) * a.hw, total = int64_t(a.n) * out_img;
  RD_GRID_LOOP(o, total) {
    int64_t n = o / out_img, e = o % out_img;
    if (e >= img) {
      a.cot[o] = 0.0f;
      continue;
    }
    int64_t i = n * img + e;
    float inv = dps_inv_norm(a.sums[2 * n + 1]);
    float u = guided_unclamped_x0(a.x[i], a.eps_hat[o], a.recip, a.recipm1);
    float g = (u >= -1.0f && u <= 1.0f) ? a.g[i] * inv : 0.0f;
    a.g[i] = g;
    a.cot[o] = -a.recipm1 * g;
  }
}

__global__ void dps_update_kernel(DpsUpdateArgs a) {
  int64_t img = int64_t(a.c) * a.hw, out_img = int64_t(a.eps_hat_channels) * a.hw, total = int64_t(a.n) * img;
  RD_GRID_LOOP(i, total) {
    int64_t n = i / img, e = i % img;
    float out = a.coef1 * a.x0[i] + a.coef2 * a.x[i] - a.zeta * (a.recip * a.g[i] + a.gx[i]);
    if (a.noise) {
      float lv = a.log_var_min;
      if (a.learned_sigma) {
        float frac = (a.eps_hat[n * out_img + img + e] + 1.0f) * 0.5f;
        lv = frac * a.log_var_max + (1.0f - frac) * a.log_var_min;
      }
      out += expf(0.5f * lv) * philox_normal(a.seed, a.image_ids[n], a.step, kNoiseSampler, uint64_t(e));
    }
    a.x[i] = out;
  }
}

__global__ void pigdm_cotangent_kernel(PigdmCotangentArgs a) {
  int64_t img = int64_t(a.c) * a.hw, out_img = int64_t(a.eps_hat_channels) * a.hw, total = int64_t(a.n) * out_img;
  RD_GRID_LOOP(o, total) {
    int64_t n = o / out_img, e = o % out_img;
    if (e >= img) {
      a.cot[o] = 0.0f;
      continue;
    }
    int64_t i = n * img + e;
    float g = a.pinv_y[i] - a.g[i];
    if (a.contrast != 0.0f) {
      double mean = 0;
      float k = a.contrast * std_grad_scale(a.x0_sums[2 * n], a.x0_sums[2 * n + 1], img, &mean);
      if (k != 0.0f) g += k * float(double(a.x0[i]) - mean);
    }
    a.g[i] = g;
    a.cot[o] = -a.recipm1 * g;
  }
}

__global__ void pigdm_update_kernel(PigdmUpdateArgs a) {
  int64_t img = int64_t(a.c) * a.hw, out_img = int64_t(a.eps_hat_channels) * a.hw, total = int64_t(a.n) * img;
  RD_GRID_LOOP(i, total) {
    int64_t n = i / img, e = i % img;
    float x0 = a.x0[i], grad = a.recip * a.g[i] + a.gx[i];
    if (a.mask) {
      float m = a.mask[n * a.hw + e % a.hw];
      x0 = x0 * (1.0f - m) + a.pinv_y[i] * m;
      grad = grad * (1.0f - m);
    }
    float out = a.sqrt_abar_s * x0 + a.c2 * a.eps_hat[n * out_img + e] + a.coeff * grad;
    if (a.c1 != 0.0f) out += a.c1 * philox_normal(a.seed, a.image_ids[n], a.step, kNoiseSampler, uint64_t(e));
    a.x[i] = out;
  }
}

}  // namespace

void guided_init_cuda(const GuidedInitArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.image_numel;
  if (total == 0) return;
  guided_init_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("guided_init");
}

void guided_x0_cuda(const GuidedX0Args& a, Stream s) {
  int64_t total = int64_t(a.n) * a.c * a.hw;
  if (total == 0) return;
  guided_x0_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("guided_x0");
}

void image_moments_cuda(const ImageMomentsArgs& a, Stream s) {
  if (a.n == 0) return;
  image_moments_kernel<<<unsigned(a.n), kReduceBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("image_moments");
}

void dps_cotangent_cuda(const DpsCotangentArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.eps_hat_channels * a.hw;
  if (total == 0) return;
  dps_cotangent_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("dps_cotangent");
}

void dps_update_cuda(const DpsUpdateArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.c * a.hw;
  if (total == 0) return;
  dps_update_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("dps_update");
}

void pigdm_cotangent_cuda(const PigdmCotangentArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.eps_hat_channels * a.hw;
  if (total == 0) return;
  pigdm_cotangent_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("pigdm_cotangent");
}

void pigdm_update_cuda(const PigdmUpdateArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.c * a.hw;
  if (total == 0) return;
  pigdm_update_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("pigdm_update");
}

}  // namespace reddiff
