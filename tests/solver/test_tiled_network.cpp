// The tiled eps-prediction (solvers/tiled_network.h, issue 16) on a small random-weight UNet: the grid
// covers every pixel and its normalised blend weights sum to one for sizes that are not multiples of the
// tile or the stride; the tiled output equals a blend the test computes itself (the network run on each
// crop, the smoothstep windows written out here in double); the result does not depend on the tile batch;
// the tiled VJP equals the untiled VJP when one tile covers the image, equals the blend of the crops'
// VJPs, and matches central finite differences of <v, tiled(x)>.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "solvers/tiled_network.h"
#include "test_util.h"

using namespace reddiff;

namespace {

struct Tiny {
  ModelConfig mc;
  std::unique_ptr<Model> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Network> net;
  Tiny() {
    named_architecture("ffhq256", &mc);
    mc.adm.model_channels = 32, mc.adm.channel_mult = {1, 2}, mc.adm.attention_resolutions = {};
    mc.adm.num_res_blocks = 1, mc.adm.num_head_channels = -1, mc.adm.num_heads = 1;
    model = Model::random(mc, 7);
    backend = make_cpu_backend(2);
    net = std::make_unique<Network>(*model, *backend, DType::F32);
  }
  int oc() const { return mc.adm.out_channels; }
};

// The window of the header's definition, in double, written independently.
double window_ref(int i, int pos, int tile, int length, int overlap) {
  if (tile >= length || overlap == 0) return 1.0;
  auto ss = [](double r) { return r * r * (3 - 2 * r); };
  double v = 1.0;
  if (pos > 0) v *= ss(std::min(1.0, (i + 0.5) / overlap));
  if (pos + tile < length) v *= ss(std::min(1.0, (tile - i - 0.5) / overlap));
  return v;
}

// Crop [c, th, tw] at (y0, x0) of image k of an NCHW batch.
std::vector<float> crop(const std::vector<float>& x, int k, int c, int h, int w, int y0, int x0, int th, int tw) {
  std::vector<float> o(size_t(c) * th * tw);
  for (int ch = 0; ch < c; ++ch)
    for (int i = 0; i < th; ++i)
      for (int j = 0; j < tw; ++j)
        o[(size_t(ch) * th + i) * tw + j] = x[((size_t(k) * c + ch) * h + y0 + i) * w + x0 + j];
  return o;
}

}  // namespace

TEST_CASE("tile grids cover the image and their normalised weights sum to one", "[tiling]") {
  const int sizes[][2] = {{300, 257}, {513, 700}, {1000, 259}, {257, 257}, {256, 1001}, {97, 611}};
  const int tiles[][2] = {{256, 64}, {64, 16}, {96, 0}, {96, 95}, {32, 31}};
  for (auto hw : sizes)
    for (auto to : tiles)
      for (int step = 0; step < 4; ++step) {
        const int h = hw[0], w = hw[1];
        TileOptions o;
        o.tile = to[0], o.overlap = to[1], o.seed = 5;
        const TileGrid g = tile_grid(h, w, o, 0x1234u + uint64_t(h), step);
        CAPTURE(h, w, o.tile, o.overlap, step);
        if (g.xs.size() * g.ys.size() > 400) continue;  // stride-1 grids of the large sizes: too slow to check here
        // positions: inside the image, ascending, first at 0, last at L - N, neighbours overlapping >= O
        for (auto [pos, len, t] : {std::tuple{&g.ys, h, g.th}, std::tuple{&g.xs, w, g.tw}}) {
          REQUIRE(t == std::min(o.tile, len));
          REQUIRE(pos->front() == 0);
          REQUIRE(pos->back() == len - t);
          for (size_t k = 1; k < pos->size(); ++k) {
            REQUIRE((*pos)[k] > (*pos)[k - 1]);
            if (len > o.tile) REQUIRE((*pos)[k] - (*pos)[k - 1] <= o.tile - o.overlap);
          }
          if (len > o.tile) {
            const int least = min_tiles_along(len, o.tile, o.overlap);
            REQUIRE(int(pos->size()) >= least);
            REQUIRE(int(pos->size()) <= least + 1);
          }
        }
        // the weight sum against the test's own accumulation in double, then the normalised sum
        const std::vector<float> s = blend_weight_sum(g, h, w, o.overlap);
        std::vector<double> ref(size_t(h) * w, 0.0);
        for (int y0 : g.ys)
          for (int x0 : g.xs)
            for (int i = 0; i < g.th; ++i)
              for (int j = 0; j < g.tw; ++j)
                ref[size_t(y0 + i) * w + x0 + j] +=
                    window_ref(i, y0, g.th, h, o.overlap) * window_ref(j, x0, g.tw, w, o.overlap);
        double worst = 0, worst_sum = 0;
        std::vector<double> norm(size_t(h) * w, 0.0);
        for (int y0 : g.ys)
          for (int x0 : g.xs)
            for (int i = 0; i < g.th; ++i)
              for (int j = 0; j < g.tw; ++j) {
                const size_t p = size_t(y0 + i) * w + x0 + j;
                norm[p] += double(tile_window(i, y0, g.th, h, o.overlap) * tile_window(j, x0, g.tw, w, o.overlap)) /
                           double(s[p]);
              }
        size_t uncovered = 0;
        for (size_t p = 0; p < ref.size(); ++p) {
          uncovered += ref[p] > 0 ? 0 : 1;
          worst = std::max(worst, std::abs(double(s[p]) - ref[p]) / ref[p]);
          worst_sum = std::max(worst_sum, std::abs(norm[p] - 1.0));
        }
        REQUIRE(uncovered == 0);
        REQUIRE(worst < 1e-5);
        REQUIRE(worst_sum < 1e-5);
      }
}

TEST_CASE("the grid shifts with the step and the image id, keyed by the seed", "[tiling]") {
  TileOptions o;
  o.tile = 64, o.overlap = 16, o.seed = 3;
  const TileGrid a = tile_grid(300, 400, o, 1, 0), b = tile_grid(300, 400, o, 1, 1), c = tile_grid(300, 400, o, 2, 0);
  REQUIRE(tile_grid(300, 400, o, 1, 0).xs == a.xs);
  REQUIRE((a.xs != b.xs || a.ys != b.ys));
  REQUIRE((a.xs != c.xs || a.ys != c.ys));
  o.shift = false;
  REQUIRE(tile_grid(300, 400, o, 1, 0).xs == tile_grid(300, 400, o, 9, 7).xs);
}

TEST_CASE("tile options: bad tiles and overlaps are one-line problems", "[tiling]") {
  Tiny m;
  const AdmConfig& c = m.mc.adm;
  REQUIRE(network_size_multiple(c) == 2);
  REQUIRE(tile_problem(c, 32, 8, 100, 100, true).empty());
  REQUIRE(tile_problem(c, 33, 8, 100, 100, true).find("multiple of 2") != std::string::npos);
  REQUIRE(tile_problem(c, 32, 32, 100, 100, true).find("--tile-overlap") != std::string::npos);
  REQUIRE(tile_problem(c, 128, 8, 100, 300, true).find("larger than") != std::string::npos);
  REQUIRE(tile_problem(c, 128, 8, 100, 300, false).empty());
}

TEST_CASE("tiled eps: the blend of the crops' predictions, independent of the tile batch", "[tiling]") {
  Tiny m;
  const int n = 2, c = 3, h = 40, w = 58, oc = m.oc(), t = 400;
  auto x = reddiff_test::random_normal(size_t(n) * c * h * w, 11);
  const std::vector<uint64_t> ids = {17, 99};
  TileOptions o;
  o.tile = 24, o.overlap = 8, o.seed = 4;
  std::vector<std::vector<float>> outs;
  for (int batch : {1, 3, 100}) {
    o.batch = batch;
    TiledNetwork tn(*m.net, o);
    tn.begin(ids);
    std::vector<float> out(size_t(n) * oc * h * w);
    tn.forward(x.data(), 2, out.data(), n, h, w);  // step 0
    tn.forward(x.data(), t, out.data(), n, h, w);  // step 1: the one compared
    outs.push_back(out);
  }
  REQUIRE(outs[0] == outs[1]);  // bit for bit
  REQUIRE(outs[0] == outs[2]);

  // the reference: each crop through the network, blended in double with the windows written out here
  std::vector<double> acc(outs[0].size(), 0.0), wsum(size_t(n) * h * w, 0.0);
  const float tt = float(t);
  for (int k = 0; k < n; ++k) {
    const TileGrid g = tile_grid(h, w, o, ids[size_t(k)], 1);
    for (int y0 : g.ys)
      for (int x0 : g.xs) {
        auto in = crop(x, k, c, h, w, y0, x0, g.th, g.tw);
        std::vector<float> f(size_t(oc) * g.th * g.tw);
        m.net->forward(in.data(), &tt, nullptr, f.data(), 1, g.th, g.tw);
        for (int i = 0; i < g.th; ++i)
          for (int j = 0; j < g.tw; ++j) {
            const double wt = window_ref(i, y0, g.th, h, o.overlap) * window_ref(j, x0, g.tw, w, o.overlap);
            wsum[(size_t(k) * h + y0 + i) * w + x0 + j] += wt;
            for (int ch = 0; ch < oc; ++ch)
              acc[((size_t(k) * oc + ch) * h + y0 + i) * w + x0 + j] += wt * f[(size_t(ch) * g.th + i) * g.tw + j];
          }
      }
  }
  double err = 0, ref2 = 0;
  for (int k = 0; k < n; ++k)
    for (int ch = 0; ch < oc; ++ch)
      for (int p = 0; p < h * w; ++p) {
        const size_t e = (size_t(k) * oc + ch) * h * w + p;
        const double r = acc[e] / wsum[size_t(k) * h * w + p];
        err = std::max(err, std::abs(double(outs[0][e]) - r));
        ref2 = std::max(ref2, std::abs(r));
      }
  REQUIRE(ref2 > 0.1);
  REQUIRE(err < 1e-5 * ref2);
}

TEST_CASE("tiled VJP: the untiled VJP for one tile, the blend of the crops' VJPs, finite differences", "[tiling]") {
  Tiny m;
  const int n = 1, c = 3, oc = m.oc(), t = 250;
  const float tt = float(t);
  SECTION("one tile covering the image is the untiled network") {
    const int h = 24, w = 30;
    auto x = reddiff_test::random_normal(size_t(c) * h * w, 21);
    auto v = reddiff_test::random_normal(size_t(oc) * h * w, 22);
    TileOptions o;
    o.tile = 32, o.overlap = 8;
    TiledNetwork tn(*m.net, o);
    tn.begin({5});
    std::vector<float> out(v.size()), gx(x.size()), out_ref(v.size()), gx_ref(x.size());
    tn.forward_for_vjp(x.data(), t, out.data(), n, h, w);
    tn.vjp(v.data(), gx.data());
    m.net->forward_for_vjp(x.data(), &tt, nullptr, out_ref.data(), 1, h, w);
    m.net->vjp(v.data(), gx_ref.data());
    REQUIRE(out == out_ref);
    REQUIRE(gx == gx_ref);
  }
  SECTION("several tiles") {
    const int h = 40, w = 46;
    auto x = reddiff_test::random_normal(size_t(c) * h * w, 31);
    auto v = reddiff_test::random_normal(size_t(oc) * h * w, 32);
    TileOptions o;
    o.tile = 24, o.overlap = 8, o.seed = 9;
    // the same step (begin() restarts at step 0) with every tile batch: one call (kept forward) or several
    std::vector<std::vector<float>> gxs;
    for (int batch : {1, 2, 64}) {
      o.batch = batch;
      TiledNetwork tn(*m.net, o);
      tn.begin({5});
      std::vector<float> out(v.size()), gx(x.size());
      tn.forward_for_vjp(x.data(), t, out.data(), n, h, w);
      tn.vjp(v.data(), gx.data());
      gxs.push_back(gx);
    }
    REQUIRE(gxs[0] == gxs[1]);
    REQUIRE(reddiff_test::rel_l2(gxs[2].data(), gxs[0].data(), gxs[0].size()) < 1e-6);

    // the blend of the crops' VJPs, assembled here: sum_k P_k^T J_k^T (w_k / sum w) v
    const TileGrid g = tile_grid(h, w, o, 5, 0);
    std::vector<double> ws(size_t(h) * w, 0.0), ref(x.size(), 0.0);
    for (int y0 : g.ys)
      for (int x0 : g.xs)
        for (int i = 0; i < g.th; ++i)
          for (int j = 0; j < g.tw; ++j)
            ws[size_t(y0 + i) * w + x0 + j] +=
                window_ref(i, y0, g.th, h, o.overlap) * window_ref(j, x0, g.tw, w, o.overlap);
    for (int y0 : g.ys)
      for (int x0 : g.xs) {
        auto in = crop(x, 0, c, h, w, y0, x0, g.th, g.tw);
        std::vector<float> f(size_t(oc) * g.th * g.tw), cot(f.size()), gk(in.size());
        for (int ch = 0; ch < oc; ++ch)
          for (int i = 0; i < g.th; ++i)
            for (int j = 0; j < g.tw; ++j) {
              const size_t p = size_t(y0 + i) * w + x0 + j;
              const double wt = window_ref(i, y0, g.th, h, o.overlap) * window_ref(j, x0, g.tw, w, o.overlap) / ws[p];
              cot[(size_t(ch) * g.th + i) * g.tw + j] = float(wt * v[size_t(ch) * h * w + p]);
            }
        m.net->forward_for_vjp(in.data(), &tt, nullptr, f.data(), 1, g.th, g.tw);
        m.net->vjp(cot.data(), gk.data());
        for (int ch = 0; ch < c; ++ch)
          for (int i = 0; i < g.th; ++i)
            for (int j = 0; j < g.tw; ++j)
              ref[(size_t(ch) * h + y0 + i) * w + x0 + j] += gk[(size_t(ch) * g.th + i) * g.tw + j];
      }
    std::vector<float> reff(ref.begin(), ref.end());
    REQUIRE(reddiff_test::rel_l2(gxs[0].data(), reff.data(), reff.size()) < 1e-5);

    // <v, f(x + e d) - f(x - e d)> / 2e  against  <J^T v, d>, in double over the f32 network
    o.batch = 2;
    TiledNetwork tn(*m.net, o);
    auto eval = [&](const std::vector<float>& xx) {
      std::vector<float> out(v.size());
      tn.begin({5});
      tn.forward(xx.data(), t, out.data(), n, h, w);
      double s = 0;
      for (size_t e = 0; e < out.size(); ++e) s += double(v[e]) * out[e];
      return s;
    };
    for (uint64_t seed : {41u, 42u, 43u}) {
      auto d = reddiff_test::random_normal(x.size(), seed);
      const double eps = 1e-2;
      std::vector<float> xp(x), xm(x);
      for (size_t e = 0; e < x.size(); ++e) xp[e] += float(eps * d[e]), xm[e] -= float(eps * d[e]);
      const double fd = (eval(xp) - eval(xm)) / (2 * eps);
      double an = 0;
      for (size_t e = 0; e < x.size(); ++e) an += double(gxs[0][e]) * d[e];
      CAPTURE(seed, fd, an);
      REQUIRE(std::abs(fd - an) < 2e-3 * std::max(1.0, std::abs(an)));
    }
  }
}
