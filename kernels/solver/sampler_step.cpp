#include "kernels/solver/sampler_step.h"

#include <algorithm>
#include <cmath>

#include "kernels/philox.h"

namespace reddiff {

void ddim_step_cpu(const DdimStepArgs& a, Stream) {
  int64_t img = int64_t(a.c) * a.hw;
  float st = std::sqrt(a.abar_t), s1t = std::sqrt(1 - a.abar_t), ss = std::sqrt(a.abar_s);
  float dir = std::sqrt(std::max(0.0f, 1 - a.abar_s - a.sigma * a.sigma));
  for (int n = 0; n < a.n; ++n) {
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < img; ++e) {
      int64_t i = int64_t(n) * img + e;
      float x = a.x[i], eh = a.eps_hat[int64_t(n) * a.eps_hat_channels * a.hw + e];
      float x0 = std::min(1.0f, std::max(-1.0f, (x - s1t * eh) / st));
      float eps = (x - st * x0) / s1t;
      float z = a.sigma > 0 ? philox_normal(a.seed, a.image_ids[n], a.step, kNoiseSampler, uint64_t(e)) : 0.0f;
      a.x[i] = ss * x0 + dir * eps + a.sigma * z;
    }
  }
}

}  // namespace reddiff
