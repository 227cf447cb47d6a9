// Pseudoinverse-guided diffusion (PiGDM; Song et al., ICLR 2023) as NVlabs/RED-diff algos/pgdm.py runs it
// (its defaults: awd=True, cond_awd=False, mcg=False):
//   x_T = sqrt(ab_T) A+(y) + sqrt(1 - ab_T) z, T the largest timestep; for each (t, s), s the next
//   timestep (ab_s = 1 after the last):
//     eps = network(x_t, t)[:c];  x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)         (not clamped)
//     g = grad_{x_t} <sg(A+ y - A+ A(x0)), x0>   (= J_x0^T (A+ y - A+ A(x0)), through the network's VJP)
//     hdr: the objective adds contrast * std(x0) per image (the official 1500)
//     inpainting: x0 <- x0 (1 - m) + A+(y) m and g <- g (1 - m)
//     x_s = sqrt(ab_s) x0 + c1 z + c2 eps + sqrt(ab_s) sqrt(ab_t) w g,
//     c1 = eta sqrt((1 - ab_t/ab_s)(1 - ab_s)/(1 - ab_t)), c2 = sqrt(1 - ab_s - c1^2)
// Timesteps: as the RED-diff solver (reddiff_timesteps), the official range(0, T, T/steps).
// Where the official code departs from the paper (docs/tasks.md): it implements only the noise-free
// A+ form (sigma_y is never used; the paper's (r_t^2 A A^T + sigma_y^2 I)^-1 weighting is absent), it
// scales the guidance by sqrt(ab_s) sqrt(ab_t) w, it pastes the known pixels into x0 for inpainting and
// adds a contrast term for hdr. Each image's noise is keyed by (seed, image id, step), so results do not
// depend on the batch (the objective is a sum of per-image terms, so the official code is batch-invariant
// up to its noise).
#pragma once
#include <functional>
#include <vector>

#include "engine/network.h"
#include "solvers/guided_network.h"
#include "solvers/reddiff_solver.h"
#include "solvers/solver.h"

namespace reddiff {

class Operator;

struct PigdmOptions {
  int steps = 100;
  double eta = 1.0;       // DDIM eta (official yaml 0; every official pgdm script line 1.0)
  double weight = 1.0;    // grad_term_weight w
  double contrast = 0.0;  // weight of sum_i std(x0_i) in the objective (the official code: 1500 for hdr)
  uint64_t seed = 0;
  int class_label = -1;
};
void validate(const PigdmOptions& o);
nlohmann::json to_json(const PigdmOptions& o);  // as PigdmSolver::describe()

class PigdmSolver : public Solver {
 public:
  PigdmSolver(Network& net, const PigdmOptions& o);
  Algorithm algorithm() const override { return Algorithm::Pigdm; }
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

 private:
  Network& net_;
  PigdmOptions o_;
  std::vector<double> abar_;
  EpsVjpFunctions custom_;
  bool has_custom_ = false;
};

}  // namespace reddiff
