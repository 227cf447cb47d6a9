// Algebraic properties of every operator on random inputs: adjoints, pseudo-inverses, VJPs against finite
// differences, the fused residual gradient, and batch independence.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

#include "engine/npy.h"
#include "kernels/operator/pointwise.h"
#include "operators/op_impl.h"
#include "tests/operators/op_test_util.h"

using namespace reddiff;
using namespace reddiff::test;

namespace {

struct LinearCase {
  std::string task;
  std::vector<std::string> args;
  bool exact_pinv;
  Shape4 shape{2, 3, 32, 48};
};

std::string kernel_file() {
  const std::string dir = testdata("operators_tmp");
  std::filesystem::create_directories(dir);
  const std::string p = dir + "/asym_kernel.npy";
  std::vector<float> k = random_vec(4 * 6, 99, 0.0f, 1.0f);
  k[0] += 2.0f;
  write_npy(p, {4, 6}, k.data());
  return p;
}

std::vector<LinearCase> linear_cases() {
  return {
      {"denoise", {}, true},
      {"colorize", {}, true},
      {"inpaint", {"--mask", "box"}, true},
      {"inpaint", {"--mask", "box", "--box-size", "20", "--random-position"}, true},
      {"inpaint", {"--mask", "random", "--fraction", "0.7"}, true},
      {"inpaint", {"--mask", "half", "--side", "bottom"}, true},
      {"inpaint", {"--mask", "freeform", "--fraction", "0.3", "--invert"}, true},
      {"sr", {"--scale", "2"}, true},
      {"sr", {"--scale", "4"}, true},
      {"sr", {"--scale", "8"}, true},
      {"sr", {"--scale", "2", "--sr-kernel", "bicubic"}, true},
      {"sr", {"--scale", "4", "--sr-kernel", "bicubic"}, true},
      {"sr", {"--scale", "4", "--sr-kernel", "bicubic"}, true, Shape4{1, 3, 64, 32}},
      {"deblur", {"--blur", "gaussian", "--blur-sigma", "1.5"}, false},
      {"deblur", {"--blur", "uniform", "--blur-size", "5"}, false},
      {"deblur", {"--blur", "motion", "--blur-size", "15"}, false},
      {"deblur", {"--blur", "motion", "--blur-size", "31"}, false, Shape4{1, 3, 32, 31}},
      {"deblur", {"--blur", kernel_file()}, false},
      {"deblur", {"--blur", "gaussian", "--blur-size", "31", "--blur-sigma", "5"}, false, Shape4{1, 2, 31, 40}},
  };
}

std::string label(const std::string& task, const std::vector<std::string>& args) {
  std::string s = task;
  for (const auto& a : args) s += " " + a;
  return s;
}

}  // namespace

TEST_CASE("linear operators: <Ax, y> = <x, A^T y>", "[operators][adjoint]") {
  for (const auto& c : linear_cases()) {
    SECTION(label(c.task, c.args)) {
      auto op = make_operator(options_for(c.task, c.args), c.shape, {}, reddiff_test::cpu_backend());
      REQUIRE(op->is_linear());
      const auto xs = op->input_shape(), ys = op->measurement_shape();
      for (uint32_t seed : {1u, 2u}) {
        // signed inputs: error relative to |Ax||y|; positive inputs: relative to the inner product itself
        const auto x = random_vec(size_t(xs.numel()), seed), y = random_vec(size_t(ys.numel()), seed + 100);
        const auto ax = op_apply(*op, x), aty = op_vjp(*op, x, y);
        const double lhs = dot(ax, y), rhs = dot(x, aty);
        INFO("signed: <Ax,y> = " << lhs << ", <x,A^T y> = " << rhs);
        CHECK(std::fabs(lhs - rhs) <= 1e-5 * norm(ax) * norm(y));
        const auto xp = random_vec(size_t(xs.numel()), seed + 7, 0.0f, 1.0f);
        const auto yp = random_vec(size_t(ys.numel()), seed + 107, 0.0f, 1.0f);
        const double l2 = dot(op_apply(*op, xp), yp), r2 = dot(xp, op_vjp(*op, xp, yp));
        INFO("positive: <Ax,y> = " << l2 << ", <x,A^T y> = " << r2);
        CHECK(std::fabs(l2 - r2) <= 1e-5 * std::fabs(l2));
      }
    }
  }
}

TEST_CASE("exact pseudo-inverses: A A+ A = A and A+ A A+ = A+", "[operators][pinv]") {
  for (const auto& c : linear_cases()) {
    if (!c.exact_pinv) continue;
    SECTION(label(c.task, c.args)) {
      auto op = make_operator(options_for(c.task, c.args), c.shape, {}, reddiff_test::cpu_backend());
      const auto x = random_vec(size_t(op->input_shape().numel()), 5);
      const auto ax = op_apply(*op, x);
      const auto aapax = op_apply(*op, op_pinv(*op, ax));
      INFO("max |A A+ A x - A x| = " << max_abs_diff(aapax, ax));
      CHECK(max_abs_diff(aapax, ax) <= 1e-5 * max_abs(ax));
      const auto y = random_vec(size_t(op->measurement_shape().numel()), 6);
      const auto py = op_pinv(*op, y);
      const auto papy = op_pinv(*op, op_apply(*op, py));
      CHECK(max_abs_diff(papy, py) <= 1e-5 * max_abs(py));
    }
  }
}

TEST_CASE("sr pool pseudo-inverse is nearest upsampling; bicubic pinv is the Moore-Penrose inverse",
          "[operators][sr]") {
  HostCsr m = sr_bicubic_matrix(16, 2);
  HostCsr p = pseudo_inverse_rows(m);
  // M P = I (full row rank) and P M symmetric
  const auto md = m.dense(), pd = p.dense();
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) {
      double s = 0.0;
      for (int k = 0; k < 16; ++k) s += md[size_t(i) * 16 + k] * pd[size_t(k) * 8 + j];
      CHECK(s == Approx(i == j ? 1.0 : 0.0).margin(1e-6));
    }
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < i; ++j) {
      double a = 0.0, b = 0.0;
      for (int k = 0; k < 8; ++k) {
        a += pd[size_t(i) * 8 + k] * md[size_t(k) * 16 + j];
        b += pd[size_t(j) * 8 + k] * md[size_t(k) * 16 + i];
      }
      CHECK(a == Approx(b).margin(1e-6));
    }
  // bicubic rows sum to 1 and are symmetric around the output pixel in the interior
  for (int r = 0; r < m.rows; ++r) {
    double s = 0.0;
    for (int k = m.ptr[size_t(r)]; k < m.ptr[size_t(r) + 1]; ++k) s += m.val[size_t(k)];
    CHECK(s == Approx(1.0).margin(1e-6));
  }
  auto op = make_operator(options_for("sr", {"--scale", "4"}), Shape4{1, 1, 8, 8}, {}, reddiff_test::cpu_backend());
  std::vector<float> y = {1, 2, 3, 4};
  const auto x = op_pinv(*op, y);
  CHECK(x[0] == 1.0f);
  CHECK(x[3] == 1.0f);
  CHECK(x[4] == 2.0f);
  CHECK(x[8 * 4 + 4] == 4.0f);
}

TEST_CASE("nonlinear operators: VJP against central finite differences", "[operators][vjp]") {
  struct C {
    std::string task;
    std::vector<std::string> args;
    Shape4 shape;
  };
  for (const auto& c : std::vector<C>{{"hdr", {}, {2, 3, 16, 20}},
                                      {"phase-retrieval", {}, {2, 3, 16, 20}},
                                      {"phase-retrieval", {"--oversample", "1"}, {1, 3, 24, 16}},
                                      {"phase-retrieval", {"--oversample", "0"}, {1, 1, 9, 7}}}) {
    SECTION(label(c.task, c.args)) {
      auto op = make_operator(options_for(c.task, c.args), c.shape, {}, reddiff_test::cpu_backend());
      REQUIRE_FALSE(op->is_linear());
      auto x = random_vec(size_t(c.shape.numel()), 11, -0.9f, 0.9f);
      if (c.task == "hdr")  // keep every entry at least 0.02 away from the kinks at +-0.5
        for (auto& v : x)
          if (std::fabs(std::fabs(v) - 0.5f) < 0.02f) v += 0.05f;
      const auto r = random_vec(size_t(op->measurement_shape().numel()), 12);
      const auto g = op_vjp(*op, x, r);
      for (uint32_t d = 0; d < 4; ++d) {
        const auto v = random_vec(x.size(), 20 + d);
        const float eps = 1e-3f;
        std::vector<float> xp(x), xm(x);
        for (size_t i = 0; i < x.size(); ++i) {
          xp[i] += eps * v[i];
          xm[i] -= eps * v[i];
        }
        const double fd = (dot(r, op_apply(*op, xp)) - dot(r, op_apply(*op, xm))) / (2.0 * eps);
        const double an = dot(g, v);
        INFO("finite difference " << fd << ", vjp " << an);
        CHECK(std::fabs(fd - an) <= 2e-3 * std::max(1.0, std::fabs(an)));
      }
    }
  }
}

TEST_CASE("hdr VJP passes the gradient where -1 <= 2x <= 1 only", "[operators][vjp]") {
  auto op = make_operator(options_for("hdr", {}), Shape4{1, 1, 1, 5}, {}, reddiff_test::cpu_backend());
  const std::vector<float> x = {-0.7f, -0.5f, 0.1f, 0.5f, 0.9f}, r = {1, 1, 1, 1, 1};
  const auto g = op_vjp(*op, x, r);
  CHECK(g == std::vector<float>{0, 2, 2, 2, 0});
  CHECK(op_apply(*op, x) == std::vector<float>{-1, -1, 0.2f, 1, 1});
  CHECK(op_pinv(*op, std::vector<float>{-1, -1, 0.2f, 1, 1}) == std::vector<float>{-0.5f, -0.5f, 0.1f, 0.5f, 0.5f});
}

TEST_CASE("residual_vjp equals J^T (A(x) - y) for every operator", "[operators][residual]") {
  auto cases = linear_cases();
  cases.push_back({"hdr", {}, false});
  cases.push_back({"phase-retrieval", {}, false});
  for (const auto& c : cases) {
    SECTION(label(c.task, c.args)) {
      auto op = make_operator(options_for(c.task, c.args), c.shape, {}, reddiff_test::cpu_backend());
      const auto x = random_vec(size_t(op->input_shape().numel()), 31);
      const auto y = random_vec(size_t(op->measurement_shape().numel()), 32);
      auto r = op_apply(*op, x);
      for (size_t i = 0; i < r.size(); ++i) r[i] -= y[i];
      const auto want = op_vjp(*op, x, r);
      std::vector<float> got(want.size());
      op->residual_vjp(x.data(), y.data(), got.data());
      CHECK(max_abs_diff(got, want) <= 1e-5 * std::max(1.0, max_abs(want)));
      // the default implementation of the interface gives the same
      std::vector<float> base(want.size());
      op->Operator::residual_vjp(x.data(), y.data(), base.data());
      CHECK(max_abs_diff(base, want) <= 1e-5 * std::max(1.0, max_abs(want)));
    }
  }
}

TEST_CASE("measurement shapes", "[operators]") {
  const Shape4 x{2, 3, 64, 48};
  CHECK(make_operator(options_for("sr", {"--scale", "8"}), x, {}, reddiff_test::cpu_backend())->measurement_shape() ==
        Shape4{2, 3, 8, 6});
  CHECK(make_operator(options_for("colorize", {}), x, {}, reddiff_test::cpu_backend())->measurement_shape() ==
        Shape4{2, 1, 64, 48});
  CHECK(make_operator(options_for("phase-retrieval", {}), x, {}, reddiff_test::cpu_backend())->measurement_shape() ==
        Shape4{2, 3, 96, 72});
  CHECK(make_operator(options_for("phase-retrieval", {}), Shape4{1, 3, 256, 256}, {}, reddiff_test::cpu_backend())
            ->measurement_shape() == Shape4{1, 3, 384, 384});
  CHECK(make_operator(options_for("deblur", {}), x, {}, reddiff_test::cpu_backend())->measurement_shape() == x);
}

TEST_CASE("batch independence: an image's measurement depends on (seed, id) only", "[operators][batch]") {
  for (const auto& c : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"inpaint", {"--mask", "freeform", "--seed", "3"}},
           {"inpaint", {"--mask", "random", "--seed", "3"}},
           {"inpaint", {"--mask", "box", "--random-position", "--box-size", "9"}},
           {"deblur", {"--blur", "motion", "--blur-size", "9", "--seed", "4"}}}) {
    SECTION(label(c.first, c.second)) {
      const auto o = options_for(c.first, c.second);
      const Shape4 one{1, 3, 24, 20}, two{2, 3, 24, 20};
      auto pair = make_operator(o, two, {17, 42}, reddiff_test::cpu_backend());
      auto solo = make_operator(o, one, {42}, reddiff_test::cpu_backend());
      const auto x = random_vec(size_t(two.numel()), 3);
      const std::vector<float> x42(x.begin() + one.numel(), x.end());
      const auto y = op_apply(*pair, x), y42 = op_apply(*solo, x42);
      CHECK(std::vector<float>(y.begin() + one.numel(), y.end()) == y42);
      // and the two images of the batch differ
      auto twin = make_operator(o, one, {17}, reddiff_test::cpu_backend());
      CHECK(op_apply(*twin, x42) != y42);
    }
  }
}

TEST_CASE("Device::CUDA without CUDA support is an error", "[operators]") {
#ifndef REDDIFF_HAVE_CUDA
  // A CUDA operator needs a CUDA backend, which such a build cannot make; its kernels refuse the device too
  // (tests/kernels/test_kernel_checks.cpp).
  CHECK_THROWS_AS(make_cuda_backend(0), Error);
  PointwiseArgs a;
  a.kind = PointwiseKind::Hdr;
  CHECK_THROWS_WITH(ops_pointwise(Device::CUDA, a, nullptr), "this build has no CUDA support");
#else
  SUCCEED("CUDA build");
#endif
}
