// The execution plan of a Graph: every arena value's lifetime (first and last op that touch it) and
// its offset in one activation arena. Values whose lifetimes do not overlap share memory; placement
// is greedy best-fit, largest values first. Built once per (model, input shape); running the plan
// allocates no activation memory.
#pragma once
#include <cstddef>
#include <vector>

#include "engine/graph.h"

namespace reddiff {

struct Plan {
  static constexpr size_t kAlignment = 256;
  std::vector<size_t> offset;  // per value; only meaningful for ValueKind::Arena
  std::vector<int> first_use, last_use;
  size_t arena_bytes = 0;      // size of the one allocation
  size_t unshared_bytes = 0;   // what one buffer per value would cost (for reports)
  size_t peak_live_bytes = 0;  // lower bound: the most bytes live at one op
};

Plan make_plan(const Graph& g);

}  // namespace reddiff
