// The work of one RED-diff step beside the network, as fused kernels (CPU twin + CUDA):
//   reddiff_step_begin: the step's scalars (one row of a table the solver uploads once) are copied to
//                   `current`, its timestep to the network's t input, and the step counter advances
//   reddiff_noise:  eps = N(0, I) keyed by (seed, image id, step); x0 = mu + sigma_x0 * eps0;
//                   xt = sqrt(abar) * x0 + sqrt(1 - abar) * eps
//   reddiff_update: g = lambda_w * (eps_hat - eps) / N + g_data / M (per image: N, M are the per-image
//                   element counts of mu and y); then one Adam step on mu in place
//                   (beta1 0.9, beta2 0.99, eps 1e-8, bias-corrected, as torch.optim.Adam).
// The noise and update kernels read the per-step scalars through a pointer to `current`, so every step
// issues the same launches with the same arguments: a step can be captured once as a CUDA graph and
// replayed (solvers/reddiff_solver.cpp).
// All buffers are NCHW f32 [n, c, h, w]; eps_hat is read from the network output [n, out_c, h, w]
// (its first c channels). Pointers are host memory for _cpu twins, device memory for _cuda.
#pragma once
#include "kernels/kernel_common.h"

namespace reddiff {

// The scalars of one RED-diff step.
struct RedDiffStepScalars {
  float t = 0;  // timestep index, as the network reads it
  float sqrt_abar = 1, sqrt_1m_abar = 0;
  float prior_weight = 0;       // lambda * w_t / N
  float bc1 = 1, bc2_sqrt = 1;  // Adam bias corrections 1 - beta1^k and sqrt(1 - beta2^k) after update k
  uint32_t step = 0;            // 0-based step index: the noise key
};

struct RedDiffStepBeginArgs {
  const RedDiffStepScalars* table = nullptr;  // [steps]
  int32_t* counter = nullptr;                 // the step to begin; advanced by one
  RedDiffStepScalars* current = nullptr;      // receives table[*counter]
  float* t_in = nullptr;                      // [n]: receives the step's timestep (the network input)
  int n = 0;
};
void reddiff_step_begin_cpu(const RedDiffStepBeginArgs& a, Stream s);
void reddiff_step_begin_cuda(const RedDiffStepBeginArgs& a, Stream s);
inline void reddiff_step_begin_check(const RedDiffStepBeginArgs& a) {
  const char* k = "reddiff_step_begin";
  kernel_require_size(a.n, k, "batch");
  kernel_require_data(a.table, true, k, "table");
  kernel_require_data(a.counter, true, k, "counter");
  kernel_require_data(a.current, true, k, "current");
  kernel_require_data(a.t_in, a.n > 0, k, "t_in");
}
RD_KERNEL_DISPATCHER(reddiff_step_begin, RedDiffStepBeginArgs)

struct RedDiffNoiseArgs {
  const float* mu = nullptr;
  float* eps = nullptr;
  float* x0 = nullptr;  // mu + sigma_x0 * eps0; may be null when sigma_x0 == 0
  float* xt = nullptr;
  const uint64_t* image_ids = nullptr;          // [n], host pointer for _cpu, device pointer for _cuda
  const RedDiffStepScalars* scalars = nullptr;  // step, sqrt_abar, sqrt_1m_abar
  uint64_t seed = 0;
  int n = 0;
  int64_t image_numel = 0;
  float sigma_x0 = 0;
};
void reddiff_noise_cpu(const RedDiffNoiseArgs& a, Stream s);
void reddiff_noise_cuda(const RedDiffNoiseArgs& a, Stream s);
inline void reddiff_noise_check(const RedDiffNoiseArgs& a) {
  const char* k = "reddiff_noise";
  const bool work = kernel_require_batch(a.n, 1, a.image_numel, k);
  kernel_require_data(a.scalars, true, k, "step scalars");
  kernel_require_data(a.mu, work, k, "mu");
  kernel_require_data(a.eps, work, k, "eps");
  kernel_require_data(a.xt, work, k, "xt");
  kernel_require_data(a.image_ids, work, k, "image id");
  kernel_require_data(a.x0, work && a.sigma_x0 != 0.0f, k, "x0");
}
RD_KERNEL_DISPATCHER(reddiff_noise, RedDiffNoiseArgs)

struct AdamState {
  float lr = 0.1f, beta1 = 0.9f, beta2 = 0.99f, eps = 1e-8f;
};
// The bias corrections of Adam's update number k (1-based), into s.bc1 and s.bc2_sqrt.
void adam_bias_corrections(const AdamState& adam, int k, RedDiffStepScalars& s);

struct RedDiffUpdateArgs {
  float* mu = nullptr;
  float* m = nullptr;  // Adam first moment
  float* v = nullptr;  // Adam second moment
  const float* eps_hat = nullptr;
  int eps_hat_channels = 3;  // channels of the network output (3, or 6 with learn_sigma)
  const float* eps = nullptr;
  const float* g_data = nullptr;                // J_A^T (A(x0) - y) per image, or null
  const RedDiffStepScalars* scalars = nullptr;  // prior_weight, bc1, bc2_sqrt
  int n = 0, c = 3;
  int64_t hw = 0;
  float data_weight = 0;  // 1 / M
  AdamState adam;
};
void reddiff_update_cpu(const RedDiffUpdateArgs& a, Stream s);
void reddiff_update_cuda(const RedDiffUpdateArgs& a, Stream s);
inline void reddiff_update_check(const RedDiffUpdateArgs& a) {
  const char* k = "reddiff_update";
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require_eps_hat(a.eps_hat_channels, a.c, k);
  kernel_require_data(a.scalars, true, k, "step scalars");
  kernel_require_data(a.mu, work, k, "mu");
  kernel_require_data(a.m, work, k, "Adam m");
  kernel_require_data(a.v, work, k, "Adam v");
  kernel_require_data(a.eps_hat, work, k, "eps_hat");
  kernel_require_data(a.eps, work, k, "eps");
}
RD_KERNEL_DISPATCHER(reddiff_update, RedDiffUpdateArgs)

// One Adam step for one element: the shared element math.
RD_HD void adam_element(float* p, float* m, float* v, float g, float lr, float b1, float b2, float eps, float bc1,
                        float bc2_sqrt) {
  *m = b1 * *m + (1.0f - b1) * g;
  *v = b2 * *v + (1.0f - b2) * g * g;
  // torch: p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
  *p -= (lr / bc1) * *m / (sqrtf(*v) / bc2_sqrt + eps);
}

// Initial mu: pure N(0, I) noise keyed like the solver's noise (init "noise").
struct NoiseFillArgs {
  float* x = nullptr;
  const uint64_t* image_ids = nullptr;
  uint64_t seed = 0;
  uint32_t step = 0, stream = 0;
  int n = 0;
  int64_t image_numel = 0;
  float scale = 1.0f;
};
void noise_fill_cpu(const NoiseFillArgs& a, Stream s);
void noise_fill_cuda(const NoiseFillArgs& a, Stream s);
inline void noise_fill_check(const NoiseFillArgs& a) {
  const bool work = kernel_require_batch(a.n, 1, a.image_numel, "noise_fill");
  kernel_require_data(a.x, work, "noise_fill", "x");
  kernel_require_data(a.image_ids, work, "noise_fill", "image id");
}
RD_KERNEL_DISPATCHER(noise_fill, NoiseFillArgs)

}  // namespace reddiff
