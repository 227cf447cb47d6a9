// CUDA twins of kernels/solver/ddrm_step.cpp.
#include "base/cuda_check.h"
#include "kernels/philox.h"
#include "kernels/solver/ddrm_step.h"

namespace reddiff {

namespace {

constexpr int kBlock = 256;

__global__ void ddrm_prepare_kernel(DdrmPrepareArgs a, float inv) {
  const int64_t img = int64_t(a.c) * a.hw, total = int64_t(a.n) * img;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / img, e = i % img;
    const float eps = a.eps_hat[n * a.eps_hat_channels * a.hw + e];
    a.eps[i] = eps;
    a.x0[i] = (a.xt[i] - a.sqrt_1m_abar * eps) * inv;
  }
}

__global__ void ddrm_update_kernel(DdrmUpdateArgs a) {
  const int64_t total = int64_t(a.n) * a.image_numel;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / a.image_numel, e = i % a.image_numel;
    const float z = a.noise ? a.noise[i] : philox_normal(a.seed, a.image_ids[n], a.step, kNoiseSampler, uint64_t(e));
    a.v[i] =
        a.sqrt_abar_next * ddrm_next(a.v[i], a.v_eps[i], a.uty[i], a.s[i], z, a.sigma_next, a.sigma_0, a.eta, a.eta_b);
  }
}

__global__ void ddrm_init_kernel(DdrmInitArgs a) {
  const int64_t total = int64_t(a.n) * a.image_numel;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / a.image_numel, e = i % a.image_numel;
    const float z = a.noise ? a.noise[i] : philox_normal(a.seed, a.image_ids[n], 0, kNoiseInit, uint64_t(e));
    a.v[i] = ddrm_start(a.uty[i], a.s[i], z, a.sigma_T, a.sigma_0);
  }
}

}  // namespace

void ddrm_prepare_cuda(const DdrmPrepareArgs& a, Stream s) {
  const int64_t total = int64_t(a.n) * a.c * a.hw;
  if (total == 0) return;
  ddrm_prepare_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a, 1.0f / a.sqrt_abar);
  RD_CUDA_CHECK_LAUNCH("ddrm_prepare");
}

void ddrm_update_cuda(const DdrmUpdateArgs& a, Stream s) {
  const int64_t total = int64_t(a.n) * a.image_numel;
  if (total == 0) return;
  ddrm_update_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("ddrm_update");
}

void ddrm_init_cuda(const DdrmInitArgs& a, Stream s) {
  const int64_t total = int64_t(a.n) * a.image_numel;
  if (total == 0) return;
  ddrm_init_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("ddrm_init");
}

}  // namespace reddiff
