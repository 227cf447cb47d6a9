// CUDA twin of kernels/solver/sampler_step.cpp.
#include "base/cuda_check.h"
#include "kernels/philox.h"
#include "kernels/solver/sampler_step.h"

namespace reddiff {

namespace {

__global__ void ddim_step_kernel(DdimStepArgs a, float st, float s1t, float ss, float dir) {
  int64_t img = int64_t(a.c) * a.hw, total = int64_t(a.n) * img;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t n = i / img, e = i % img;
    float x = a.x[i], eh = a.eps_hat[n * a.eps_hat_channels * a.hw + e];
    float x0 = fminf(1.0f, fmaxf(-1.0f, (x - s1t * eh) / st));
    float eps = (x - st * x0) / s1t;
    float z = a.sigma > 0 ? philox_normal(a.seed, a.image_ids[n], a.step, kNoiseSampler, uint64_t(e)) : 0.0f;
    a.x[i] = ss * x0 + dir * eps + a.sigma * z;
  }
}

}  // namespace

void ddim_step_cuda(const DdimStepArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.c * a.hw;
  if (total == 0) return;
  // Coefficients computed on the host exactly as the CPU twin does.
  float st = std::sqrt(a.abar_t), s1t = std::sqrt(1 - a.abar_t), ss = std::sqrt(a.abar_s);
  float dir = std::sqrt(std::max(0.0f, 1 - a.abar_s - a.sigma * a.sigma));
  ddim_step_kernel<<<grid_for(total, 256), 256, 0, as_cuda_stream(s)>>>(a, st, s1t, ss, dir);
  RD_CUDA_CHECK_LAUNCH("ddim_step");
}

}  // namespace reddiff
