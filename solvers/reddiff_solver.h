// The RED-diff solver (Mardani et al., ICLR 2024), as NVlabs/RED-diff algos/reddiff.py implements it:
// fit mu by Adam on  lambda * w_t * sg(eps_hat(x_t, t) - eps)^T mu / N  +  0.5 * ||y - A(mu)||^2 / M,
// one network forward per step, timesteps visited in descending order, mu_0 = A^+(y).
// Differences from the official code, on purpose (docs/tasks.md):
//   - N and M are per-image element counts (the official means run over the whole batch, which makes a
//     result depend on batch size); each image's noise is keyed by (seed, image id, step), so results do
//     not depend on batch size, shard or batch neighbours;
//   - exactly `steps` timesteps (see reddiff_timesteps; the official schedule can run more);
//   - the output is mu after the last update.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "base/tensor.h"
#include "engine/device_buffer.h"
#include "engine/network.h"
#include "solvers/solver.h"

namespace reddiff {

class Operator;

struct RedDiffOptions {
  int steps = 100;
  double lr = 0.5;
  double lambda = 0.25;
  std::string weighting = "linear";  // linear (sqrt((1-abar)/abar)), sqrt, square, log, clip, power2over3, const
  double sigma_x0 = 0.0;
  std::string init = "pinv";  // pinv, zeros, noise
  uint64_t seed = 0;
  int class_label = -1;  // class-conditional models only
  int t_start = -1;      // timesteps run over [t_end, t_start): official start_step (-1: T)
  int t_end = 0;         // official end_step
  bool graph = true;     // CUDA: capture one step as a CUDA graph and replay it for the rest
};

// Descending timesteps: t_end + floor(i * (t_start - t_end) / steps), i = steps-1 ... 0 -- exactly
// `steps` values; equal to the official range(t_end, t_start, (t_start - t_end) / steps) when steps divides.
std::vector<int> reddiff_timesteps(int t_start, int t_end, int steps);
// The timesteps of a run as network inputs, uploaded once: [ts.size()][n] floats on the backend's
// device; step i's inputs start at i * n. (No host-to-device copy, and no synchronisation, per step.)
// Used by the DDIM sampler; the RED-diff solver keeps its per-step scalars in a table of its own.
DeviceBuffer timestep_table(Backend& b, const std::vector<int>& ts, int n);
// f(snr_inv) of the weighting variant; throws on an unknown name.
double reddiff_weighting(const std::string& name, double snr_inv);
void validate(const RedDiffOptions& o);
// The options as RedDiffSolver::describe() reports them (before a solve).
nlohmann::json to_json(const RedDiffOptions& o);

class RedDiffSolver : public Solver {
 public:
  RedDiffSolver(Network& net, const RedDiffOptions& o);
  Algorithm algorithm() const override { return Algorithm::RedDiff; }
  int steps() const override { return o_.steps; }
  size_t workspace_bytes(Shape4 x_shape, Shape4 y_shape) const override;
  nlohmann::json describe() const override;  // with "cuda_graph": graph_note() of the last solve
  void solve(const Problem& p, const float* y, float* mu, const std::vector<uint64_t>& ids,
             const StepCallback& on_step = nullptr) override {
    solve(*p.op, y, mu, ids, on_step);
  }
  // Restores a batch. A: the operator for this batch (on the network's device); y: measurements on the
  // device [n, ...]; mu: output [n, c, h, w] on the device; ids: one stable id per image.
  void solve(const Operator& A, const float* y, float* mu, const std::vector<uint64_t>& ids,
             const std::function<void(const SolverStep&)>& on_step = nullptr);
  // The network evaluation used by each step, replaceable for tests (e.g. an analytic eps-predictor).
  using EpsFn = std::function<void(const float* xt, int t, float* out, int n, int h, int w)>;
  void set_eps_function(EpsFn f, int out_channels) { eps_fn_ = std::move(f), eps_channels_ = out_channels; }
  void set_tiling(TiledNetwork* t) override {
    set_eps_function(t ? t->eps_function() : nullptr, t ? t->out_channels() : 0);
  }

  // How the last solve() ran its steps: replayed from a captured CUDA graph (after one eager warm-up step,
  // which also builds the plan and the operators' scratch), or launch by launch, and why.
  bool used_graph() const { return used_graph_; }
  const std::string& graph_note() const { return graph_note_; }

 private:
  Network& net_;
  RedDiffOptions o_;
  EpsFn eps_fn_;
  int eps_channels_ = 0;
  std::vector<double> abar_;
  bool used_graph_ = false;
  std::string graph_note_;
  int t_start_given_ = -1;  // o_.t_start before the model's T replaced -1
};

}  // namespace reddiff
