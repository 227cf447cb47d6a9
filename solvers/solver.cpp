// The algorithm table, and the one place a batch's operators are made for a solver (make_problem).
#include "solvers/solver.h"

#include "base/error.h"

namespace reddiff {

const std::vector<AlgorithmInfo>& algorithms() {
  static const std::vector<AlgorithmInfo> a = {
      {Algorithm::RedDiff, "reddiff", "RED-diff", false, false},
      {Algorithm::Dps, "dps", "DPS", true, false},
      {Algorithm::Pigdm, "pigdm", "PiGDM", true, false},
      {Algorithm::Ddrm, "ddrm", "DDRM", false, true},
  };
  return a;
}

const AlgorithmInfo& algorithm_info(Algorithm a) {
  for (const auto& i : algorithms())
    if (i.algo == a) return i;
  throw Error("solver: unknown algorithm", 1);
}

bool parse_algorithm(const std::string& name, Algorithm* a) {
  for (const auto& i : algorithms())
    if (i.name == name) {
      *a = i.algo;
      return true;
    }
  return false;
}

bool algorithm_supports(Algorithm a, const OperatorOptions& o, std::string* why) {
  return !algorithm_info(a).needs_svd || svd_supported(o, why);
}

Problem make_problem(const OperatorOptions& o, Shape4 x_shape, const std::vector<uint64_t>& ids, Backend& backend,
                     bool with_svd) {
  Problem p;
  p.op = make_operator(o, x_shape, ids, backend);
  if (with_svd) p.svd = make_svd_operator(o, x_shape, ids, backend);
  return p;
}

}  // namespace reddiff
