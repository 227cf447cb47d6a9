// One DDIM step (Song et al. 2021, as guided-diffusion's ddim_sample) fused into a kernel pair:
//   x0  = clip((x - sqrt(1 - ab_t) eps_hat) / sqrt(ab_t), -1, 1)     (clip_denoised, guided-diffusion's default)
//   eps = (x - sqrt(ab_t) x0) / sqrt(1 - ab_t)                         (re-derived from the clipped x0)
//   x  <- sqrt(ab_s) x0 + sqrt(1 - ab_s - sigma^2) eps + sigma z,  z ~ N(0, I) keyed by (seed, image, step)
// with sigma = eta sqrt((1 - ab_s)/(1 - ab_t)) sqrt(1 - ab_t/ab_s); ab_s = 1 after the last step.
// x is NCHW f32 [n, c, h, w]; eps_hat is the network output [n, eps_hat_channels, h, w].
#pragma once
#include "kernels/kernel_common.h"

namespace reddiff {

struct DdimStepArgs {
  float* x = nullptr;
  const float* eps_hat = nullptr;
  int eps_hat_channels = 3;
  const uint64_t* image_ids = nullptr;  // host pointer for _cpu, device pointer for _cuda
  uint64_t seed = 0;
  uint32_t step = 0;
  int n = 0, c = 3;
  int64_t hw = 0;
  float abar_t = 1, abar_s = 1, sigma = 0;
};
void ddim_step_cpu(const DdimStepArgs& a, Stream s);
void ddim_step_cuda(const DdimStepArgs& a, Stream s);
inline void ddim_step_check(const DdimStepArgs& a) {
  const char* k = "ddim_step";
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require_eps_hat(a.eps_hat_channels, a.c, k);
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.eps_hat, work, k, "eps_hat");
  kernel_require_data(a.image_ids, work && a.sigma > 0.0f, k, "image id");
}
RD_KERNEL_DISPATCHER(ddim_step, DdimStepArgs)

}  // namespace reddiff
