// Diffusion Posterior Sampling (Chung et al., ICLR 2023) as DPS2022/diffusion-posterior-sampling runs it
// (sample_condition.py with guided_diffusion/gaussian_diffusion.py's DDPM p_sample_loop and
// condition_methods.py's PosteriorSampling):
//   x_T ~ N(0, I); for each kept timestep, descending:
//     eps, v = network(x_t, t);  x0 = clamp(x_t / sqrt(ab) - sqrt(1/ab - 1) eps, -1, 1)
//     x' = coef1 x0 + coef2 x_t + sigma_t z   (the posterior q(x_{t-1} | x_t, x0); no noise at the last step)
//     x_{t-1} = x' - zeta * grad_{x_t} ||y - A(x0)||     (through the clamp and the network: its VJP)
//   sigma_t: the learned range exp(0.5 (f log beta + (1 - f) log post_var)), f = (v + 1)/2, for a 6-channel
//   model (guided-diffusion's learned_range); fixed_large (post_var[1], beta[1:]) for a 3-channel one
//   (guided-diffusion's default without learn_sigma).
// Fewer steps respace the schedule exactly as guided-diffusion's space_timesteps / SpacedDiffusion: the kept
// timesteps' abar define new betas, and the network sees the original timestep indices.
// Differences from the official code, on purpose: the norm is per image (the official norm runs over the
// whole batch tensor, so its step depends on the batch; it also hard-codes batch size 1), the noise is
// keyed by (seed, image id, step), and a zero residual gives a zero step (torch: NaN).
#pragma once
#include <functional>
#include <vector>

#include "engine/network.h"
#include "solvers/guided_network.h"
#include "solvers/reddiff_solver.h"
#include "solvers/solver.h"

namespace reddiff {

class Operator;

struct DpsOptions {
  int steps = 1000;   // kept timesteps out of the model's T
  double zeta = 1.0;  // step size ("scale" in the official configs)
  uint64_t seed = 0;
  int class_label = -1;
};
void validate(const DpsOptions& o);
nlohmann::json to_json(const DpsOptions& o);  // as DpsSolver::describe()

// guided-diffusion's space_timesteps(T, [count]): `count` timesteps from [0, T), evenly strided with
// round-half-to-even (Python's round), ascending.
std::vector<int> space_timesteps(int T, int count);

// The respaced DDPM schedule, indexed by the kept step k (ascending; the sampler runs k = K-1 ... 0).
struct DpsSchedule {
  std::vector<int> t;                      // the model's timestep index of step k
  std::vector<double> abar, coef1, coef2;  // posterior mean = coef1 x0 + coef2 x_t
  std::vector<double> log_beta;            // learned range: upper end
  std::vector<double> log_post_var;        // learned range: lower end (posterior variance, clipped at k = 0)
  std::vector<double> log_fixed_large;     // fixed variance of a 3-channel model
};
DpsSchedule dps_schedule(const std::vector<double>& alphas_cumprod, int steps);

class DpsSolver : public Solver {
 public:
  DpsSolver(Network& net, const DpsOptions& o);
  Algorithm algorithm() const override { return Algorithm::Dps; }
  int steps() const override { return o_.steps; }
  size_t workspace_bytes(Shape4 x_shape, Shape4 y_shape) const override;
  nlohmann::json describe() const override;
  void solve(const Problem& p, const float* y, float* x, const std::vector<uint64_t>& ids,
             const StepCallback& on_step = nullptr) override {
    solve(*p.op, y, x, ids, on_step);
  }
  // As RedDiffSolver::solve; x: the output [n, c, h, w] on the device (x_t during the run).
  void solve(const Operator& A, const float* y, float* x, const std::vector<uint64_t>& ids,
             const std::function<void(const SolverStep&)>& on_step = nullptr);
  void set_network_functions(EpsVjpFunctions f) { custom_ = std::move(f), has_custom_ = true; }
  void set_tiling(TiledNetwork* t) override {
    if (t)
      set_network_functions(t->vjp_functions());
    else
      custom_ = EpsVjpFunctions{}, has_custom_ = false;
  }
  const DpsSchedule& schedule() const { return sched_; }

 private:
  Network& net_;
  DpsOptions o_;
  DpsSchedule sched_;
  EpsVjpFunctions custom_;
  bool has_custom_ = false;
};

}  // namespace reddiff
