// Unconditional DDIM / ancestral-like sampling (eta = 0: deterministic DDIM; eta = 1: DDPM-like noise),
// as guided-diffusion's ddim_sample_loop with clip_denoised: look at what a model has learned
// (`reddiff sample`). Timesteps: the same evenly strided descending schedule as the RED-diff solver.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/network.h"
#include "solvers/reddiff_solver.h"

namespace reddiff {

struct DdimOptions {
  int steps = 50;
  double eta = 0.0;
  uint64_t seed = 0;
  int class_label = -1;
};

// x: device buffer [n, in_channels, h, w], overwritten with the samples in [-1, 1].
void ddim_sample(Network& net, const DdimOptions& o, float* x, const std::vector<uint64_t>& ids, int h, int w,
                 const std::function<void(const SolverStep&)>& on_step = nullptr);

}  // namespace reddiff
