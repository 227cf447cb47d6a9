// make_solver and the settings every algorithm shares.
#include "solvers/factory.h"

#include "base/error.h"

namespace reddiff {

void SolverSettings::set_steps(int steps) { reddiff.steps = dps.steps = pigdm.steps = ddrm.steps = steps; }
void SolverSettings::set_seed(uint64_t seed) { reddiff.seed = dps.seed = pigdm.seed = ddrm.seed = seed; }
void SolverSettings::set_class_label(int label) {
  reddiff.class_label = dps.class_label = pigdm.class_label = ddrm.class_label = label;
}

int SolverSettings::steps(Algorithm a) const {
  switch (a) {
    case Algorithm::RedDiff:
      return reddiff.steps;
    case Algorithm::Dps:
      return dps.steps;
    case Algorithm::Pigdm:
      return pigdm.steps;
    case Algorithm::Ddrm:
      return ddrm.steps;
  }
  throw Error("solver: unknown algorithm", 1);
}

int SolverSettings::class_label(Algorithm a) const {
  switch (a) {
    case Algorithm::RedDiff:
      return reddiff.class_label;
    case Algorithm::Dps:
      return dps.class_label;
    case Algorithm::Pigdm:
      return pigdm.class_label;
    case Algorithm::Ddrm:
      return ddrm.class_label;
  }
  throw Error("solver: unknown algorithm", 1);
}

nlohmann::json to_json(Algorithm a, const SolverSettings& s) {
  switch (a) {
    case Algorithm::RedDiff:
      return to_json(s.reddiff);
    case Algorithm::Dps:
      return to_json(s.dps);
    case Algorithm::Pigdm:
      return to_json(s.pigdm);
    case Algorithm::Ddrm:
      return to_json(s.ddrm);
  }
  throw Error("solver: unknown algorithm", 1);
}

void validate(Algorithm a, const SolverSettings& s) {
  switch (a) {
    case Algorithm::RedDiff:
      return validate(s.reddiff);
    case Algorithm::Dps:
      return validate(s.dps);
    case Algorithm::Pigdm:
      return validate(s.pigdm);
    case Algorithm::Ddrm:
      return validate(s.ddrm);
  }
  throw Error("solver: unknown algorithm", 1);
}

std::unique_ptr<Solver> make_solver(Algorithm a, const SolverSettings& s, Network& net) {
  switch (a) {
    case Algorithm::RedDiff:
      return std::make_unique<RedDiffSolver>(net, s.reddiff);
    case Algorithm::Dps:
      return std::make_unique<DpsSolver>(net, s.dps);
    case Algorithm::Pigdm:
      return std::make_unique<PigdmSolver>(net, s.pigdm);
    case Algorithm::Ddrm:
      return std::make_unique<DdrmSolver>(net, s.ddrm);
  }
  throw Error("solver: unknown algorithm", 1);
}

}  // namespace reddiff
