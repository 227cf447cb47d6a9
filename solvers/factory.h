// The one solver factory: make_solver(Algorithm, SolverSettings, Network&). SolverSettings holds every
// algorithm's options, each in its solver's own struct, so that one table of command-line options
// (tool/solver_options.cpp) and one table of per-task presets (tool/tasks.cpp) can fill any of them.
#pragma once
#include <cstdint>
#include <memory>

#include "engine/network.h"
#include "solvers/ddrm_solver.h"
#include "solvers/dps_solver.h"
#include "solvers/pigdm_solver.h"
#include "solvers/reddiff_solver.h"
#include "solvers/solver.h"

namespace reddiff {

// Every algorithm's settings: make_solver reads the struct of its algorithm. The defaults are the solvers'
// own; the restoration commands start from a task's preset instead.
struct SolverSettings {
  RedDiffOptions reddiff;
  DpsOptions dps;
  PigdmOptions pigdm;
  DdrmOptions ddrm;
  // The settings every algorithm has, set in all four.
  void set_steps(int steps);
  void set_seed(uint64_t seed);
  void set_class_label(int label);
  int steps(Algorithm a) const;
  int class_label(Algorithm a) const;
};

// The checks of `a`'s settings (validate(RedDiffOptions), ...): a one-line reddiff::Error naming the option.
void validate(Algorithm a, const SolverSettings& s);

// a's settings as JSON, as its solver's describe() has them before a solve (for reports when no solver was
// made: nothing to restore).
nlohmann::json to_json(Algorithm a, const SolverSettings& s);

// The solver of algorithm `a` over `net` with s's settings for it. Its constructor checks them against the
// model's schedule ("--steps 1001 exceeds the model's 1000 timesteps").
std::unique_ptr<Solver> make_solver(Algorithm a, const SolverSettings& s, Network& net);

}  // namespace reddiff
