// Mask generators, blur kernels and noise: determinism per seed, coverage, exact geometry, file inputs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "engine/image_io.h"
#include "engine/npy.h"
#include "operators/op_impl.h"
#include "operators/rng.h"
#include "tests/operators/op_test_util.h"

using namespace reddiff;
using namespace reddiff::test;

namespace {

double hole_fraction(const std::vector<float>& m, size_t offset, size_t count) {
  double holes = 0;
  for (size_t i = 0; i < count; ++i) holes += m[offset + i] == 0.0f;
  return holes / double(count);
}

std::string tmpdir() {
  const std::string d = testdata("operators_tmp");
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace

TEST_CASE("masks are binary and deterministic per (seed, id), and differ across seeds and ids", "[masks]") {
  for (const std::string kind : {"box", "random", "freeform"}) {
    SECTION(kind) {
      std::vector<std::string> args = {"--mask", kind};
      if (kind == "box") args.push_back("--random-position");
      const Shape4 s{3, 3, 64, 80};
      auto a = make_inpaint_masks(options_for("inpaint", args), s, {1, 2, 3});
      auto b = make_inpaint_masks(options_for("inpaint", args), s, {1, 2, 3});
      CHECK(a == b);
      for (float v : a) REQUIRE((v == 0.0f || v == 1.0f));
      const size_t hw = 64 * 80;
      CHECK(std::vector<float>(a.begin(), a.begin() + hw) != std::vector<float>(a.begin() + hw, a.begin() + 2 * hw));
      args.push_back("--seed");
      args.push_back("7");
      auto c = make_inpaint_masks(options_for("inpaint", args), s, {1, 2, 3});
      CHECK(a != c);
    }
  }
}

TEST_CASE("random and free-form masks cover the requested fraction within 2%", "[masks]") {
  for (const std::string kind : {"random", "freeform"}) {
    for (double f : {0.05, 0.2, 0.25, 0.3, 0.5, 0.8}) {
      for (Shape4 s : {Shape4{4, 3, 256, 256}, Shape4{2, 3, 64, 96}, Shape4{1, 3, 33, 17}}) {
        char fs[16];
        std::snprintf(fs, sizeof fs, "%g", f);
        auto m = make_inpaint_masks(options_for("inpaint", {"--mask", kind, "--fraction", fs, "--seed", "5"}), s, {});
        const size_t hw = size_t(s.h) * s.w;
        for (int i = 0; i < s.n; ++i) {
          INFO(kind << " fraction " << f << " image " << i << " of " << s.str());
          const double got = hole_fraction(m, i * hw, hw);
          CHECK(std::fabs(got - f) <= 0.02);
          if (kind == "random") CHECK(std::fabs(got * hw - std::round(f * hw)) < 0.5);  // exact count
        }
      }
    }
  }
}

TEST_CASE("box and half masks are exact", "[masks]") {
  const int h = 40, w = 60;
  const Shape4 s{1, 3, h, w};
  auto box = make_inpaint_masks(options_for("inpaint", {"--mask", "box", "--box-size", "10"}), s, {});
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      const bool hole = i >= 15 && i < 25 && j >= 25 && j < 35;
      REQUIRE(box[size_t(i) * w + j] == (hole ? 0.0f : 1.0f));
    }
  auto dflt = make_inpaint_masks(options_for("inpaint", {}), s, {});  // box of half the short side: 20
  CHECK(hole_fraction(dflt, 0, size_t(h) * w) == Approx(400.0 / (h * w)));
  CHECK(dflt[size_t(10) * w + 20] == 0.0f);
  CHECK(dflt[size_t(9) * w + 20] == 1.0f);
  // random position: a 12x12 hole fully inside the image, at different places per id
  auto rp = make_inpaint_masks(options_for("inpaint", {"--mask", "box", "--box-size", "12", "--random-position"}),
                               Shape4{5, 3, h, w}, {});
  for (int b = 0; b < 5; ++b) CHECK(hole_fraction(rp, size_t(b) * h * w, size_t(h) * w) == Approx(144.0 / (h * w)));
  for (const std::string side : {"left", "right", "top", "bottom"}) {
    for (Shape4 sh : {Shape4{1, 3, h, w}, Shape4{1, 3, 7, 9}}) {
      auto m = make_inpaint_masks(options_for("inpaint", {"--mask", "half", "--side", side}), sh, {});
      for (int i = 0; i < sh.h; ++i)
        for (int j = 0; j < sh.w; ++j) {
          bool hole = side == "left"    ? j < sh.w / 2
                      : side == "right" ? j >= sh.w - sh.w / 2
                      : side == "top"   ? i < sh.h / 2
                                        : i >= sh.h - sh.h / 2;
          REQUIRE(m[size_t(i) * sh.w + j] == (hole ? 0.0f : 1.0f));
        }
    }
  }
  auto inv = make_inpaint_masks(options_for("inpaint", {"--mask", "half", "--invert"}), s, {});
  CHECK(inv[0] == 1.0f);
  CHECK(inv[w - 1] == 0.0f);
}

TEST_CASE("mask files: white keeps, any size with the same aspect ratio, nearest resize", "[masks]") {
  const std::string dir = tmpdir();
  // 4x6 mask: left 3 columns white (keep), right 3 black
  std::vector<float> px(24);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) px[size_t(i) * 6 + j] = j < 3 ? 1.0f : 0.0f;
  save_png(dir + "/m46.png", px.data(), 1, 4, 6, 0.0f, 1.0f);
  auto m = make_inpaint_masks(options_for("inpaint", {"--mask", dir + "/m46.png"}), Shape4{1, 3, 40, 60}, {});
  for (int i = 0; i < 40; ++i)
    for (int j = 0; j < 60; ++j) REQUIRE(m[size_t(i) * 60 + j] == (j < 30 ? 1.0f : 0.0f));
  auto mi =
      make_inpaint_masks(options_for("inpaint", {"--mask", dir + "/m46.png", "--invert"}), Shape4{1, 3, 8, 12}, {});
  CHECK(mi[0] == 0.0f);
  CHECK(mi[11] == 1.0f);
  // .npy masks
  write_npy(dir + "/m.npy", {1, 4, 6}, px.data());
  auto mn = make_inpaint_masks(options_for("inpaint", {"--mask", dir + "/m.npy"}), Shape4{2, 3, 4, 6}, {});
  CHECK(std::vector<float>(mn.begin(), mn.begin() + 24) == px);
  CHECK(std::vector<float>(mn.begin() + 24, mn.end()) == px);
  // wrong aspect ratio, corrupt file, wrong array rank
  CHECK_THROWS_WITH(make_inpaint_masks(options_for("inpaint", {"--mask", dir + "/m46.png"}), Shape4{1, 3, 40, 40}, {}),
                    Catch::Contains("does not fit"));
  // a mask that cannot fit is refused from its header, before any pixel is decoded: this file is the
  // header alone (no pixel data), so decoding it would fail with a different message
  {
    std::ifstream in(dir + "/m46.png", std::ios::binary);
    std::string head(33, '\0');  // PNG signature (8 bytes) and the IHDR chunk (25)
    REQUIRE(in.read(&head[0], 33));
    std::ofstream(dir + "/head46.png", std::ios::binary) << head;
  }
  CHECK_THROWS_WITH(
      make_inpaint_masks(options_for("inpaint", {"--mask", dir + "/head46.png"}), Shape4{1, 3, 40, 40}, {}),
      Catch::Contains("does not fit") && Catch::Contains("6x4"));
  CHECK_THROWS_WITH(
      make_inpaint_masks(options_for("inpaint", {"--mask", dir + "/head46.png"}), Shape4{1, 3, 40, 60}, {}),
      Catch::Contains("head46.png") && !Catch::Contains("does not fit"));
  { std::ofstream(dir + "/bad.png") << "not a png"; }
  CHECK_THROWS_WITH(make_inpaint_masks(options_for("inpaint", {"--mask", dir + "/bad.png"}), Shape4{1, 3, 4, 6}, {}),
                    Catch::Contains("bad.png"));
  write_npy(dir + "/m3.npy", {2, 4, 6}, std::vector<float>(48, 1.0f).data());
  CHECK_THROWS_WITH(make_inpaint_masks(options_for("inpaint", {"--mask", dir + "/m3.npy"}), Shape4{1, 3, 4, 6}, {}),
                    Catch::Contains("m3.npy"));
  CHECK_THROWS_WITH(options_for("inpaint", {"--mask", dir + "/missing.png"}), Catch::Contains("--mask"));
}

TEST_CASE("blur kernels", "[kernels]") {
  const Shape4 s{3, 3, 64, 64};
  SECTION("gaussian: separable, symmetric, sum 1, default size 2*ceil(3 sigma)+1") {
    auto k = make_blur_kernels(options_for("deblur", {"--blur-sigma", "1.2"}), s, {});
    CHECK(k.kh == 9);
    CHECK(k.kw == 9);
    REQUIRE(k.row.size() == 9);
    double sum = 0.0;
    for (int i = 0; i < 81; ++i) sum += k.k[size_t(i)];
    CHECK(sum == Approx(1.0).margin(1e-6));
    CHECK(k.row[0] == Approx(k.row[8]));
    CHECK(k.row[4] / k.row[3] == Approx(std::exp(1.0 / (2 * 1.44))).epsilon(1e-5));
  }
  SECTION("uniform: 1/size^2") {
    auto k = make_blur_kernels(options_for("deblur", {"--blur", "uniform"}), s, {});
    CHECK(k.kh == 9);
    for (float v : k.k) CHECK(v == Approx(1.0 / 81));
  }
  SECTION("motion: 61x61 by default, non-negative, sum 1, deterministic per (seed, id)") {
    auto a = make_blur_kernels(options_for("deblur", {"--blur", "motion"}), Shape4{2, 3, 64, 64}, {4, 5});
    auto b = make_blur_kernels(options_for("deblur", {"--blur", "motion"}), Shape4{1, 3, 64, 64}, {5});
    CHECK(a.kh == 61);
    CHECK(a.row.empty());
    const size_t n = 61 * 61;
    CHECK(std::vector<float>(a.k.begin() + n, a.k.end()) == b.k);
    CHECK(std::vector<float>(a.k.begin(), a.k.begin() + n) != b.k);
    for (int i = 0; i < 2; ++i) {
      double sum = 0.0;
      int nonzero = 0;
      for (size_t j = 0; j < n; ++j) {
        REQUIRE(a.k[i * n + j] >= 0.0f);
        sum += a.k[i * n + j];
        nonzero += a.k[i * n + j] > 0.0f;
      }
      CHECK(sum == Approx(1.0).margin(1e-5));
      CHECK(nonzero > 30);  // a trajectory, not a dot
    }
    auto c = make_blur_kernels(options_for("deblur", {"--blur", "motion", "--seed", "1"}), Shape4{1, 3, 64, 64}, {5});
    CHECK(c.k != b.k);
  }
  SECTION("kernel files: image or .npy, normalised; errors name the file") {
    const std::string dir = tmpdir();
    std::vector<float> k = {0, 1, 0, 1, 2, 1};
    write_npy(dir + "/k23.npy", {2, 3}, k.data());
    auto f = make_blur_kernels(options_for("deblur", {"--blur", dir + "/k23.npy"}), s, {});
    CHECK(f.kh == 2);
    CHECK(f.kw == 3);
    CHECK(f.k[4] == Approx(0.4f));
    save_png(dir + "/k23.png", k.data(), 1, 2, 3, 0.0f, 2.0f);
    auto g = make_blur_kernels(options_for("deblur", {"--blur", dir + "/k23.png"}), s, {});
    for (int i = 0; i < 6; ++i) CHECK(g.k[size_t(i)] == Approx(f.k[size_t(i)]).margin(2e-3));
    std::vector<float> neg = {-1, 0, 0, 0};
    write_npy(dir + "/neg.npy", {2, 2}, neg.data());
    CHECK_THROWS_WITH(make_blur_kernels(options_for("deblur", {"--blur", dir + "/neg.npy"}), s, {}),
                      Catch::Contains("neg.npy"));
    CHECK_THROWS_WITH(make_blur_kernels(options_for("deblur", {"--blur", "motion"}), Shape4{1, 3, 32, 32}, {}),
                      Catch::Contains("does not fit"));
    // a kernel file larger than the image is refused from its header, before its pixels are decoded: the
    // header of a 3000x2000 PNG without pixel data (decoding it would fail with another message)
    std::vector<float> big(size_t(3000) * 2000, 0.5f);
    save_png(dir + "/big.png", big.data(), 1, 2000, 3000, 0.0f, 1.0f);
    {
      std::ifstream in(dir + "/big.png", std::ios::binary);
      std::string head(33, '\0');
      REQUIRE(in.read(&head[0], 33));
      std::ofstream(dir + "/bighead.png", std::ios::binary) << head;
    }
    CHECK_THROWS_WITH(make_blur_kernels(options_for("deblur", {"--blur", dir + "/bighead.png"}), s, {}),
                      Catch::Contains("blur kernel 3000x2000 does not fit the 64x64 image"));
  }
}

TEST_CASE("noise: gaussian std 2*sigma_y, poisson std sigma_y*sqrt(v) on [0,1], deterministic", "[noise]") {
  const Shape4 s{2, 3, 128, 128};
  const size_t n = size_t(s.numel());
  std::vector<float> y(n, 0.2f), y2(n, 0.2f);
  auto o = options_for("denoise", {"--sigma-y", "0.05", "--seed", "9"});
  add_noise(y.data(), s, o, {});
  add_noise(y2.data(), s, o, {});
  CHECK(y == y2);
  double m = 0, v = 0;
  for (float t : y) m += t - 0.2;
  m /= double(n);
  for (float t : y) v += (t - 0.2 - m) * (t - 0.2 - m);
  v /= double(n);
  CHECK(std::fabs(m) < 1e-3);
  CHECK(std::sqrt(v) == Approx(0.1).epsilon(0.01));
  // --noise-std gives the same as --sigma-y / 2
  std::vector<float> y3(n, 0.2f);
  add_noise(y3.data(), s, options_for("denoise", {"--noise-std", "0.1", "--seed", "9"}), {});
  CHECK(y3 == y);
  // poisson: at v = (y+1)/2 = 0.6 the std on [0,1] is sigma_y * sqrt(0.6)
  std::vector<float> p(n, 0.2f);
  add_noise(p.data(), s, options_for("denoise", {"--sigma-y", "0.05", "--noise", "poisson"}), {});
  m = 0;
  v = 0;
  for (float t : p) m += (t + 1) / 2;
  m /= double(n);
  for (float t : p) v += ((t + 1) / 2 - m) * ((t + 1) / 2 - m);
  v /= double(n);
  CHECK(m == Approx(0.6).epsilon(0.002));
  CHECK(std::sqrt(v) == Approx(0.05 * std::sqrt(0.6)).epsilon(0.02));
  // small counts (inversion branch)
  std::vector<float> q(n, -0.9f);  // v = 0.05, photons 400 -> mean 20 (PTRS); sigma 0.2 -> 25 photons, mean 1.25
  add_noise(q.data(), s, options_for("denoise", {"--sigma-y", "0.2", "--noise", "poisson"}), {});
  m = 0;
  for (float t : q) m += (t + 1) / 2;
  CHECK(m / double(n) == Approx(0.05).epsilon(0.02));
  // the noise of an image depends on its id only
  std::vector<float> a(size_t(s.image_numel()), 0.0f);
  std::vector<float> both(n, 0.0f);
  add_noise(both.data(), s, o, {3, 8});
  add_noise(a.data(), Shape4{1, 3, 128, 128}, o, {8});
  CHECK(std::vector<float>(both.begin() + s.image_numel(), both.end()) == a);
  // sigma 0: untouched
  std::vector<float> z(n, 0.3f);
  add_noise(z.data(), s, options_for("denoise", {}), {});
  CHECK(z == std::vector<float>(n, 0.3f));
}

TEST_CASE("rng: uniform, normal and poisson moments", "[noise]") {
  OpRng r(1, 2, RngStream::Noise);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double v = r.normal();
    s += v;
    s2 += v * v;
  }
  CHECK(std::fabs(s / n) < 0.01);
  CHECK(s2 / n == Approx(1.0).epsilon(0.01));
  for (double lam : {0.5, 3.0, 9.5, 10.5, 40.0, 1000.0}) {
    double m = 0, v = 0;
    std::vector<double> d(50000);
    for (auto& x : d) {
      x = r.poisson(lam);
      m += x;
    }
    m /= double(d.size());
    for (double x : d) v += (x - m) * (x - m);
    v /= double(d.size());
    INFO("lambda " << lam);
    CHECK(m == Approx(lam).epsilon(0.02).margin(0.01));
    CHECK(v == Approx(lam).epsilon(0.05).margin(0.02));
  }
}
