// The restoration solvers' interface. A Solver restores a batch (solve), says how many device bytes its own
// buffers take for a shape (workspace_bytes) and describes its settings as JSON (describe). RED-diff, DPS,
// PiGDM and DDRM implement it; make_solver (solvers/factory.h) is the one factory.
//
// What a solver restores is a Problem: the operator of the batch and, for the solvers that work on its
// SVD (DDRM, Solver::needs_svd), the SVD view with the same masks and kernels. make_problem builds both from
// the task's OperatorOptions, so callers never ask which algorithm runs.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/tensor.h"
#include "engine/backend.h"
#include "engine/network.h"
#include "operators/operator.h"
#include "operators/svd.h"
#include "solvers/tiled_network.h"

namespace reddiff {

enum class Algorithm { RedDiff, Dps, Pigdm, Ddrm };

struct AlgorithmInfo {
  Algorithm algo;
  std::string name;   // the --algo value: reddiff, dps, pigdm, ddrm
  std::string title;  // as papers write it: RED-diff, DPS, PiGDM, DDRM
  bool guided;        // back-propagates through the network every step (a forward pass and its VJP)
  bool needs_svd;     // solves on the operator's SVD view (operators/svd.h)
};
// Every algorithm, in the order of --help: reddiff (the default), dps, pigdm, ddrm.
const std::vector<AlgorithmInfo>& algorithms();
const AlgorithmInfo& algorithm_info(Algorithm a);
// The algorithm called `name`; false when there is none.
bool parse_algorithm(const std::string& name, Algorithm* a);
// True when `a` can solve the task of these operator options; otherwise false with a one-line reason in
// *why (DDRM: the operator needs an SVD view, svd_supported).
bool algorithm_supports(Algorithm a, const OperatorOptions& o, std::string* why = nullptr);

// One batch's operators on a backend's device: the operator and, when asked for, its SVD view (the same
// masks and kernels for the same (seed, image ids)).
struct Problem {
  std::unique_ptr<Operator> op;
  std::unique_ptr<SvdOperator> svd;  // null unless with_svd
  Shape4 x_shape() const { return op->input_shape(); }
  Shape4 y_shape() const { return op->measurement_shape(); }
};
Problem make_problem(const OperatorOptions& o, Shape4 x_shape, const std::vector<uint64_t>& ids, Backend& backend,
                     bool with_svd);

// Where a solve is: step `index` of `steps` (1-based, reported once the step is issued) at timestep t.
struct SolverStep {
  int index = 0, steps = 0, t = 0;
};
using StepCallback = std::function<void(const SolverStep&)>;

class Solver {
 public:
  virtual ~Solver() = default;
  virtual Algorithm algorithm() const = 0;
  virtual int steps() const = 0;
  // True when solve() needs the problem's SVD view (make_problem(..., with_svd = true)).
  virtual bool needs_svd() const { return false; }
  // Device bytes solve() allocates for a batch of images x_shape measured as y_shape (its work buffers,
  // timestep tables, image ids and labels), besides the caller's x and y and the network's own memory.
  virtual size_t workspace_bytes(Shape4 x_shape, Shape4 y_shape) const = 0;
  // The settings as JSON: "algo", "steps", the algorithm's own options, "seed" and "class"; after a solve,
  // what it found out (RED-diff: "cuda_graph"; DDRM: "sigma_0").
  virtual nlohmann::json describe() const = 0;
  // Restores a batch: y the measurements on the network's device, x the output images [n, c, h, w] there;
  // ids one stable id per image; on_step after every step.
  virtual void solve(const Problem& p, const float* y, float* x, const std::vector<uint64_t>& ids,
                     const StepCallback& on_step = nullptr) = 0;
  // The network the next solves evaluate: the tiled one (solvers/tiled_network.h, begun for the batch), or
  // null for the whole-image network. RED-diff and DDRM take its eps-prediction, DPS and PiGDM its VJP too.
  virtual void set_tiling(TiledNetwork* tiled) = 0;
};

}  // namespace reddiff
