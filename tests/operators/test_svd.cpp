// SVD views of the operators (operators/svd.h): for every task with one, U diag(s) V^T reproduces the
// operator's own apply() on random inputs, V and U are orthogonal, and the singular values are the known ones.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "base/error.h"
#include "op_test_util.h"
#include "operators/svd.h"

using namespace reddiff;
using namespace reddiff::test;

namespace {

struct SvdCase {
  std::string name;
  std::function<void(OperatorOptions&)> set;
};

std::vector<SvdCase> svd_cases() {
  return {
      {"denoise", [](OperatorOptions& o) { o.task = "denoise"; }},
      {"inpaint box", [](OperatorOptions& o) { o.task = "inpaint", o.mask = "box", o.box_size = 6; }},
      {"inpaint random", [](OperatorOptions& o) { o.task = "inpaint", o.mask = "random", o.fraction = 0.5; }},
      {"inpaint freeform", [](OperatorOptions& o) { o.task = "inpaint", o.mask = "freeform", o.fraction = 0.3; }},
      {"colorize", [](OperatorOptions& o) { o.task = "colorize"; }},
      {"sr pool 2", [](OperatorOptions& o) { o.task = "sr", o.scale = 2; }},
      {"sr pool 4", [](OperatorOptions& o) { o.task = "sr", o.scale = 4; }},
      {"sr bicubic 2", [](OperatorOptions& o) { o.task = "sr", o.scale = 2, o.sr_kernel = "bicubic"; }},
      {"deblur gaussian", [](OperatorOptions& o) { o.task = "deblur", o.blur = "gaussian", o.blur_sigma = 1.5; }},
      {"deblur uniform", [](OperatorOptions& o) { o.task = "deblur", o.blur = "uniform", o.blur_size = 5; }},
  };
}

double rel(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

}  // namespace

TEST_CASE("dense_svd: U diag(s) V^T reproduces the matrix, U and V orthogonal, s descending", "[svd]") {
  const int r = 5, c = 8;
  auto f = random_vec(size_t(r * c), 3);
  std::vector<double> m(f.begin(), f.end());
  DenseSvd d = dense_svd(m, r, c);
  REQUIRE(d.s.size() == size_t(r));
  for (int k = 1; k < r; ++k) CHECK(d.s[size_t(k - 1)] >= d.s[size_t(k)]);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) {
      double v = 0;
      for (int k = 0; k < r; ++k) v += d.u[size_t(i * r + k)] * d.s[size_t(k)] * d.v[size_t(j * c + k)];
      CHECK(std::fabs(v - m[size_t(i * c + j)]) < 1e-12);
    }
  for (int a = 0; a < c; ++a)
    for (int b = 0; b < c; ++b) {
      double vv = 0, uu = 0;
      for (int k = 0; k < c; ++k) vv += d.v[size_t(k * c + a)] * d.v[size_t(k * c + b)];
      CHECK(std::fabs(vv - (a == b ? 1.0 : 0.0)) < 1e-12);
      if (a < r && b < r) {
        for (int k = 0; k < r; ++k) uu += d.u[size_t(k * r + a)] * d.u[size_t(k * r + b)];
        CHECK(std::fabs(uu - (a == b ? 1.0 : 0.0)) < 1e-12);
      }
    }
}

TEST_CASE("SVD views reproduce every operator that has one, with orthogonal U and V", "[svd]") {
  const Shape4 xs{2, 3, 16, 12};
  const std::vector<uint64_t> ids{5, 9};
  SvdOptions exact;
  exact.zero_threshold = 0.0;
  for (const auto& c : svd_cases()) {
    DYNAMIC_SECTION(c.name) {
      OperatorOptions o;
      c.set(o);
      o.seed = 4;
      auto A = make_operator(o, xs, ids, reddiff_test::cpu_backend());
      auto S = make_svd_operator(o, xs, ids, reddiff_test::cpu_backend(), exact);
      REQUIRE(S->input_shape() == xs);
      REQUIRE(S->measurement_shape() == A->measurement_shape());
      const size_t nx = size_t(xs.numel()), ny = size_t(A->measurement_shape().numel());
      const auto& s = S->singulars_host();
      REQUIRE(s.size() == nx);
      size_t nonzero = 0;
      for (float v : s) {
        REQUIRE(v >= 0.0f);
        nonzero += v > 0.0f;
      }
      CHECK(nonzero <= ny);

      // A x = U diag(s) V^T x
      auto x = random_vec(nx, 11);
      std::vector<float> v(nx), sv(nx), y(ny);
      S->vt(x.data(), v.data());
      for (size_t i = 0; i < nx; ++i) sv[i] = s[i] * v[i];
      S->u(sv.data(), y.data());
      const auto want = op_apply(*A, x);
      INFO(c.name << ": |U S V^T x - A x| / |A x| = " << rel(y, want));
      CHECK(rel(y, want) < 2e-6);

      // V orthogonal: V V^T x = x, V^T V w = w, |V^T x| = |x|
      std::vector<float> back(nx), w = random_vec(nx, 12), w2(nx), w3(nx);
      S->v(v.data(), back.data());
      CHECK(rel(back, x) < 2e-6);
      CHECK(std::fabs(norm(v) - norm(x)) < 2e-6 * norm(x));
      S->v(w.data(), w2.data());
      S->vt(w2.data(), w3.data());
      CHECK(rel(w3, w) < 2e-6);

      // U orthogonal: U U^T y = y, |U^T y| = |y|, and U^T U (U^T y) = U^T y
      auto yr = random_vec(ny, 13);
      std::vector<float> uy(nx), yb(ny), uy2(nx);
      S->ut(yr.data(), uy.data());
      S->u(uy.data(), yb.data());
      CHECK(rel(yb, yr) < 2e-6);
      CHECK(std::fabs(norm(uy) - norm(yr)) < 2e-6 * norm(yr));
      S->ut(yb.data(), uy2.data());
      CHECK(rel(uy2, uy) < 2e-6);
      // coordinates with s > 0 are measured: there U^T (A x) / s = V^T x
      std::vector<float> uax(nx);
      S->ut(want.data(), uax.data());
      double err = 0, ref = 0;
      for (size_t i = 0; i < nx; ++i)
        if (s[i] > 0.05f)
          err = std::max(err, double(std::fabs(uax[i] / s[i] - v[i]))), ref = std::max(ref, double(std::fabs(v[i])));
      CHECK(err < 1e-4 * ref);
    }
  }
}

TEST_CASE("SVD views have the known singular values", "[svd]") {
  const Shape4 xs{2, 3, 16, 12};
  const std::vector<uint64_t> ids{5, 9};
  auto count = [](const std::vector<float>& s, float v, float tol) {
    size_t k = 0;
    for (float a : s) k += std::fabs(a - v) <= tol;
    return k;
  };
  OperatorOptions o;
  o.task = "sr", o.scale = 4;
  auto sr = make_svd_operator(o, xs, ids, reddiff_test::cpu_backend());
  CHECK(count(sr->singulars_host(), 0.25f, 1e-6f) == size_t(2 * 3 * 4 * 3));
  CHECK(count(sr->singulars_host(), 0.0f, 0.0f) == size_t(xs.numel() - 2 * 3 * 4 * 3));

  o = OperatorOptions();
  o.task = "colorize";
  auto col = make_svd_operator(o, xs, ids, reddiff_test::cpu_backend());
  CHECK(count(col->singulars_host(), float(1 / std::sqrt(3.0)), 1e-6f) == size_t(2 * 16 * 12));

  o = OperatorOptions();
  o.task = "inpaint", o.mask = "random", o.fraction = 0.5, o.seed = 2;
  auto inp = make_svd_operator(o, xs, ids, reddiff_test::cpu_backend());
  auto m = make_inpaint_masks(o, xs, ids);
  const auto& s = inp->singulars_host();
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 16 * 12; ++p) REQUIRE(s[size_t((i * 3 + c) * 192 + p)] == m[size_t(i * 192 + p)]);

  // The official zero threshold (3e-2) on the 1-D singular values of a wide Gaussian blur.
  o = OperatorOptions();
  o.task = "deblur", o.blur = "gaussian", o.blur_sigma = 2.0;
  SvdOptions exact;
  exact.zero_threshold = 0.0;
  auto thr = make_svd_operator(o, Shape4{1, 3, 32, 32}, {0}, reddiff_test::cpu_backend());
  auto all = make_svd_operator(o, Shape4{1, 3, 32, 32}, {0}, reddiff_test::cpu_backend(), exact);
  size_t z_thr = count(thr->singulars_host(), 0.0f, 0.0f), z_all = count(all->singulars_host(), 0.0f, 0.0f);
  CHECK(z_all == 0);
  CHECK(z_thr > 0);
  for (size_t i = 0; i < thr->singulars_host().size(); ++i) {
    const float a = thr->singulars_host()[i], b = all->singulars_host()[i];
    if (a > 0) CHECK(a == b);
    if (a > 0) CHECK(a >= 9e-4f);
  }
}

TEST_CASE("operators without an SVD are a one-line error", "[svd]") {
  const Shape4 xs{1, 3, 16, 16};
  std::vector<std::pair<std::string, std::function<void(OperatorOptions&)>>> bad = {
      {"nonlinear", [](OperatorOptions& o) { o.task = "hdr"; }},
      {"nonlinear", [](OperatorOptions& o) { o.task = "phase-retrieval"; }},
      {"separable", [](OperatorOptions& o) { o.task = "deblur", o.blur = "motion", o.blur_size = 9; }},
      {"--compose", [](OperatorOptions& o) { o.task = "sr", o.compose = {"deblur"}; }},
  };
  for (auto& [word, set] : bad) {
    OperatorOptions o;
    set(o);
    std::string why;
    CHECK_FALSE(svd_supported(o, &why));
    CHECK(why.find("DDRM needs an SVD of the operator") == 0);
    CHECK(why.find(word) != std::string::npos);
    CHECK(why.find('\n') == std::string::npos);
    CHECK_THROWS_AS(make_svd_operator(o, xs, {}, reddiff_test::cpu_backend()), Error);
  }
  for (std::string t : {"denoise", "inpaint", "colorize", "sr", "deblur"}) {
    OperatorOptions o;
    o.task = t;
    CHECK(svd_supported(o));
  }
  OperatorOptions o;
  o.task = "sr", o.scale = 4;
  CHECK_THROWS_WITH(make_svd_operator(o, Shape4{1, 3, 18, 16}, {}, reddiff_test::cpu_backend()),
                    Catch::Contains("does not divide"));
}
