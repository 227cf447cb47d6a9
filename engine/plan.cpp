#include "engine/plan.h"

#include <algorithm>
#include <numeric>

namespace reddiff {

static size_t align_up(size_t n) { return (n + Plan::kAlignment - 1) / Plan::kAlignment * Plan::kAlignment; }

Plan make_plan(const Graph& g) {
  Plan p;
  size_t nv = g.values.size();
  p.offset.assign(nv, 0);
  p.first_use.assign(nv, -1);
  p.last_use.assign(nv, -1);
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Op& op = g.ops[i];
    auto touch = [&](int v) {
      if (p.first_use[size_t(v)] < 0) p.first_use[size_t(v)] = int(i);
      p.last_use[size_t(v)] = int(i);
    };
    for (int v : op.inputs) touch(v);
    touch(op.output);
  }
  std::vector<int> order;
  for (size_t v = 0; v < nv; ++v)
    if (g.values[v].kind == ValueKind::Arena && p.first_use[v] >= 0) order.push_back(int(v));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return g.value(a).bytes() > g.value(b).bytes(); });

  struct Placed {
    size_t off, size;
    int first, last;
  };
  std::vector<Placed> placed;
  for (int v : order) {
    size_t size = align_up(g.value(v).bytes());
    p.unshared_bytes += size;
    int f = p.first_use[size_t(v)], l = p.last_use[size_t(v)];
    // Collect the intervals of already-placed values alive at the same time, by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const auto& q : placed)
      if (!(q.last < f || l < q.first)) busy.push_back({q.off, q.off + q.size});
    std::sort(busy.begin(), busy.end());
    // Best fit: the smallest gap that holds it; else after the last busy interval.
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& b : busy) {
      if (b.first > cursor && b.first - cursor >= size && b.first - cursor < best_gap) {
        best = cursor;
        best_gap = b.first - cursor;
      }
      cursor = std::max(cursor, b.second);
    }
    if (best == SIZE_MAX) best = cursor;
    p.offset[size_t(v)] = best;
    placed.push_back({best, size, f, l});
    p.arena_bytes = std::max(p.arena_bytes, best + size);
  }
  for (size_t i = 0; i < g.ops.size(); ++i) {
    size_t live = 0;
    for (const auto& q : placed)
      if (q.first <= int(i) && int(i) <= q.last) live += q.size;
    p.peak_live_bytes = std::max(p.peak_live_bytes, live);
  }
  return p;
}

}  // namespace reddiff
