// CUDA twins of kernels/solver/reddiff_step.cpp: the step prologue, the fused noise/x_t kernel and the fused
// gradient + Adam update of one RED-diff step, and the noise fill used by --init noise.
#include "base/cuda_check.h"
#include "kernels/philox.h"
#include "kernels/solver/reddiff_step.h"

namespace reddiff {

namespace {

constexpr int kBlock = 256;

__global__ void reddiff_step_begin_kernel(RedDiffStepBeginArgs a) {
  // One block: every thread reads the same counter before thread 0 advances it.
  int k = *a.counter;
  if (threadIdx.x == 0) *a.current = a.table[k];
  for (int i = threadIdx.x; i < a.n; i += blockDim.x) a.t_in[i] = a.table[k].t;
  __syncthreads();
  if (threadIdx.x == 0) *a.counter = k + 1;
}

__global__ void reddiff_noise_kernel(RedDiffNoiseArgs a) {
  const RedDiffStepScalars sc = *a.scalars;
  int64_t total = int64_t(a.n) * a.image_numel;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int n = int(i / a.image_numel);
    uint64_t e = uint64_t(i % a.image_numel);
    uint64_t id = a.image_ids[n];
    float eps = philox_normal(a.seed, id, sc.step, kNoiseEps, e);
    float x0 = a.mu[i];
    if (a.sigma_x0 != 0.0f) x0 += a.sigma_x0 * philox_normal(a.seed, id, sc.step, kNoiseX0, e);
    if (a.x0) a.x0[i] = x0;
    a.eps[i] = eps;
    a.xt[i] = sc.sqrt_abar * x0 + sc.sqrt_1m_abar * eps;
  }
}

__global__ void reddiff_update_kernel(RedDiffUpdateArgs a) {
  const RedDiffStepScalars sc = *a.scalars;
  int64_t img = int64_t(a.c) * a.hw, total = int64_t(a.n) * img;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t n = i / img, e = i % img;
    float g = sc.prior_weight * (a.eps_hat[n * a.eps_hat_channels * a.hw + e] - a.eps[i]);
    if (a.g_data) g += a.data_weight * a.g_data[i];
    adam_element(&a.mu[i], &a.m[i], &a.v[i], g, a.adam.lr, a.adam.beta1, a.adam.beta2, a.adam.eps, sc.bc1, sc.bc2_sqrt);
  }
}

__global__ void noise_fill_kernel(NoiseFillArgs a) {
  int64_t total = int64_t(a.n) * a.image_numel;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int n = int(i / a.image_numel);
    a.x[i] = a.scale * philox_normal(a.seed, a.image_ids[n], a.step, a.stream, uint64_t(i % a.image_numel));
  }
}

}  // namespace

void reddiff_step_begin_cuda(const RedDiffStepBeginArgs& a, Stream s) {
  reddiff_step_begin_kernel<<<1, kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("reddiff_step_begin");
}

void reddiff_noise_cuda(const RedDiffNoiseArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.image_numel;
  if (total == 0) return;
  reddiff_noise_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("reddiff_noise");
}

void reddiff_update_cuda(const RedDiffUpdateArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.c * a.hw;
  if (total == 0) return;
  reddiff_update_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("reddiff_update");
}

void noise_fill_cuda(const NoiseFillArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.image_numel;
  if (total == 0) return;
  noise_fill_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("noise_fill");
}

}  // namespace reddiff
