// The planner: no two values alive at the same op overlap in the arena, sharing really happens, and
// the graph of every architecture option has consistent shapes.
#include <catch2/catch.hpp>
#include <cstdio>

#include "engine/adm_unet.h"
#include "engine/model.h"
#include "engine/plan.h"
#include "engine/vjp_graph.h"

using namespace reddiff;

static void check_plan(const Graph& g, const Plan& p) {
  for (size_t a = 0; a < g.values.size(); ++a) {
    if (g.values[a].kind != ValueKind::Arena || p.first_use[a] < 0) continue;
    CHECK(p.offset[a] % Plan::kAlignment == 0);
    CHECK(p.offset[a] + g.values[a].bytes() <= p.arena_bytes);
    for (size_t b = a + 1; b < g.values.size(); ++b) {
      if (g.values[b].kind != ValueKind::Arena || p.first_use[b] < 0) continue;
      bool live_together = !(p.last_use[a] < p.first_use[b] || p.last_use[b] < p.first_use[a]);
      bool overlap = p.offset[a] < p.offset[b] + g.values[b].bytes() && p.offset[b] < p.offset[a] + g.values[a].bytes();
      if (live_together && overlap)
        FAIL("values " << g.values[a].name << " and " << g.values[b].name << " overlap while both alive");
    }
  }
}

TEST_CASE("arena placement never overlaps live values and reuses memory", "[engine][plan]") {
  ModelConfig mc;
  REQUIRE(named_architecture("ffhq256", &mc));
  mc.adm.model_channels = 64;  // same topology, smaller weights
  auto m = Model::random(mc, 1);
  for (int size : {64, 96}) {
    Graph g = build_adm_graph(mc.adm, m->weights, 2, size, size, DType::F32);
    Plan p = make_plan(g);
    check_plan(g, p);
    CHECK(p.arena_bytes >= p.peak_live_bytes);
    CHECK(p.arena_bytes * 3 < p.unshared_bytes);  // a UNet keeps few activations alive at once
  }
}

TEST_CASE("the VJP graph's plan never overlaps live values and shares its arena", "[engine][plan][vjp]") {
  ModelConfig mc;
  REQUIRE(named_architecture("ffhq256", &mc));
  mc.adm.model_channels = 64;
  auto m = Model::random(mc, 1);
  Graph g = build_adm_graph(mc.adm, m->weights, 2, 64, 64, DType::F32);
  Plan fp = make_plan(g);
  append_vjp(g);
  Plan p = make_plan(g);
  check_plan(g, p);
  CHECK(p.arena_bytes >= p.peak_live_bytes);
  CHECK(p.arena_bytes * 3 < p.unshared_bytes);
  // Forward activations kept for the backward pass cost more than the forward alone, but far less than
  // keeping every activation.
  CHECK(p.arena_bytes > fp.arena_bytes);
  CHECK(p.arena_bytes < fp.unshared_bytes);
  std::printf("ffhq topology (mc 64) 2x64x64: forward arena %.1f MiB, VJP arena %.1f MiB, unshared forward %.1f MiB\n",
              fp.arena_bytes / 1048576.0, p.arena_bytes / 1048576.0, fp.unshared_bytes / 1048576.0);
}

TEST_CASE("odd sizes are padded to the network multiple and cropped back", "[engine][plan]") {
  ModelConfig mc;
  REQUIRE(named_architecture("ffhq256", &mc));
  int hp, wp;
  adm_padded_size(mc.adm, 100, 260, &hp, &wp);
  CHECK(hp == 128);
  CHECK(wp == 288);
  CHECK_THROWS(adm_padded_size(mc.adm, 10, 64, &hp, &wp));  // reflect padding needs 22 more rows than 10
}
