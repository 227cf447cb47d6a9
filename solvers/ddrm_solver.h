// DDRM, Denoising Diffusion Restoration Models (Kawar et al., NeurIPS 2022), as bahjat-kawar/ddrm
// functions/denoising.py efficient_generalized_steps does it, on an operator's SVD (operators/svd.h).
//
// With sigma_t = sqrt((1 - abar_t)/abar_t), the timesteps of reddiff_timesteps(T, 0, steps) (for 20 steps of
// a 1000-step model: 950, 900, ..., 0, the official "uniform" skip) and sigma_0 = 2 sigma_y (the noise std of
// y on images in [-1, 1], the official `sigma_0 = 2 * args.sigma_0`):
//   x_T = V start(U^T y)  (kernels/solver/ddrm_step.h ddrm_start)
//   per step t -> t' (t' = -1 after the last: abar = 1): eps_hat = eps(x_t, t),
//     x0 = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t),
//     x_t' = sqrt(abar_t') V next(V^T x0, V^T eps_hat, U^T y, s)  (ddrm_next: the three cases of the paper)
// and the output is x after the last step (= the last x0 prediction). One network evaluation per step.
// Differences from the official code, on purpose (docs/tasks.md, DDRM):
//   - noise keyed by (seed, image id, step, spectral coordinate): results do not depend on the batch;
//   - exactly `steps` steps (the official range(0, T, T // steps) runs more when steps does not divide T);
//   - a singular value of 0 inside y's dimension (a 1-D singular value zeroed by the threshold) is treated as
//     unmeasured; the official code sends it to the "less noisy than y" case when sigma_0 > 0, where it adds
//     a multiple of (U^T y)_k / sigma_0.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/network.h"
#include "solvers/reddiff_solver.h"
#include "solvers/solver.h"

namespace reddiff {

class SvdOperator;
struct OperatorOptions;

struct DdrmOptions {
  int steps = 20;
  double eta = 0.85;   // the official --eta (etaA = etaC), in [0, 1]
  double eta_b = 1.0;  // the official --etaB, in [0, 1]
  uint64_t seed = 0;
  int class_label = -1;  // class-conditional models only
};
void validate(const DdrmOptions& o);
// The options as DdrmSolver::describe() reports them before a solve ("sigma_0" null).
nlohmann::json to_json(const DdrmOptions& o);

// True when DDRM can run these operator options (the operator has an SVD view); otherwise false with a
// one-line reason in *why. (operators/svd.h svd_supported.)
bool ddrm_supported(const OperatorOptions& o, std::string* why = nullptr);

class DdrmSolver : public Solver {
 public:
  DdrmSolver(Network& net, const DdrmOptions& o);
  Algorithm algorithm() const override { return Algorithm::Ddrm; }
  int steps() const override { return o_.steps; }
  bool needs_svd() const override { return true; }
  size_t workspace_bytes(Shape4 x_shape, Shape4 y_shape) const override;
  nlohmann::json describe() const override;  // with "sigma_0" of the last solve (null before one)
  // Solves on p.svd (make_problem(..., with_svd = true)).
  void solve(const Problem& p, const float* y, float* x, const std::vector<uint64_t>& ids,
             const StepCallback& on_step = nullptr) override;
  // Restores a batch. A: the SVD view of this batch's operator (make_svd_operator, on the network's device;
  // sigma_0 = 2 A.sigma_y()); y: measurements on the device; x: output [n, c, h, w] on the device; ids: one
  // stable id per image.
  void solve(const SvdOperator& A, const float* y, float* x, const std::vector<uint64_t>& ids,
             const std::function<void(const SolverStep&)>& on_step = nullptr);
  // The network evaluation used by each step, replaceable for tests (e.g. an analytic eps-predictor).
  using EpsFn = std::function<void(const float* xt, int t, float* out, int n, int h, int w)>;
  void set_eps_function(EpsFn f, int out_channels) { eps_fn_ = std::move(f), eps_channels_ = out_channels; }
  void set_tiling(TiledNetwork* t) override {
    set_eps_function(t ? t->eps_function() : nullptr, t ? t->out_channels() : 0);
  }
  // Tests only: host buffers [steps + 1][n * c * h * w] of N(0, 1) noise used instead of the keyed draws
  // (row 0 for x_T, row i + 1 for step i); CPU only.
  void set_noise_for_tests(const std::vector<float>* noise) { test_noise_ = noise; }

 private:
  Network& net_;
  DdrmOptions o_;
  EpsFn eps_fn_;
  int eps_channels_ = 0;
  std::vector<double> abar_;
  const std::vector<float>* test_noise_ = nullptr;
  double last_sigma_0_ = -1;  // of the last solve; < 0 before one
};

}  // namespace reddiff
