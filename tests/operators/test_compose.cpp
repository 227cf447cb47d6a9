// Composed operators (--compose): apply in order, pinv in reverse order, adjoint and chain-rule VJP,
// checked against the stages run by hand, the adjoint identity and central finite differences.
#include <catch2/catch.hpp>

#include "op_test_util.h"

using namespace reddiff;
using namespace reddiff::test;

namespace {

std::unique_ptr<Operator> stage(const OperatorOptions& o, const std::string& task, Shape4 x) {
  OperatorOptions s = o;
  s.task = task;
  s.compose.clear();
  return make_operator(s, x, {5, 6}, reddiff_test::cpu_backend());
}

}  // namespace

TEST_CASE("a composition applies its stages in order and inverts them in reverse", "[operators][compose]") {
  Shape4 xs{2, 3, 32, 24};
  auto o = options_for("sr", {"--compose", "deblur", "--scale", "2", "--blur", "gaussian", "--blur-sigma", "1.5"});
  REQUIRE(o.compose == std::vector<std::string>{"deblur"});
  auto A = make_operator(o, xs, {5, 6}, reddiff_test::cpu_backend());
  auto blur = stage(o, "deblur", xs);
  auto down = stage(o, "sr", xs);
  CHECK(A->measurement_shape() == down->measurement_shape());
  auto x = random_vec(size_t(xs.numel()), 1);
  auto by_hand = op_apply(*down, op_apply(*blur, x));
  CHECK(max_abs_diff(op_apply(*A, x), by_hand) < 1e-6);
  auto y = random_vec(size_t(A->measurement_shape().numel()), 2);
  std::vector<float> p(size_t(xs.numel())), p1(size_t(xs.numel())), p2(size_t(xs.numel()));
  A->pinv(y.data(), p.data());
  down->pinv(y.data(), p1.data());
  blur->pinv(p1.data(), p2.data());
  CHECK(max_abs_diff(p, p2) < 1e-6);
  // Linear: <Ax, y> = <x, A^T y>.
  REQUIRE(A->is_linear());
  double lhs = dot(op_apply(*A, x), y), rhs = dot(x, op_vjp(*A, x, y));
  CHECK(std::fabs(lhs - rhs) <= 1e-5 * std::fabs(lhs));
}

TEST_CASE("a nonlinear composition's VJP matches central finite differences", "[operators][compose]") {
  Shape4 xs{1, 3, 16, 16};
  auto o = options_for("sr", {"--compose", "inpaint,hdr", "--scale", "2", "--mask", "random", "--fraction", "0.3"});
  auto A = make_operator(o, xs, {}, reddiff_test::cpu_backend());
  CHECK_FALSE(A->is_linear());
  auto x = random_vec(size_t(xs.numel()), 3, -0.4f, 0.4f);  // inside hdr's unclipped range (|2x| < 1)
  auto r = random_vec(size_t(A->measurement_shape().numel()), 4);
  auto g = op_vjp(*A, x, r);
  auto d = random_vec(size_t(xs.numel()), 5);
  const float h = 1e-3f;
  std::vector<float> xp(x), xm(x);
  for (size_t i = 0; i < x.size(); ++i) xp[i] += h * d[i], xm[i] -= h * d[i];
  double fd = (dot(op_apply(*A, xp), r) - dot(op_apply(*A, xm), r)) / (2.0 * h);
  CHECK(std::fabs(fd - dot(g, d)) <= 1e-3 * std::fabs(fd));
  // residual_vjp = J^T (A(x) - y)
  auto y = random_vec(size_t(A->measurement_shape().numel()), 6);
  auto ax = op_apply(*A, x);
  for (size_t i = 0; i < ax.size(); ++i) ax[i] -= y[i];
  std::vector<float> gr(size_t(xs.numel()));
  A->residual_vjp(x.data(), y.data(), gr.data());
  CHECK(max_abs_diff(gr, op_vjp(*A, x, ax)) < 1e-5);
}

TEST_CASE("bad compositions are refused in one line", "[operators][compose]") {
  CHECK_THROWS_WITH(options_for("sr", {"--compose", "colorize"}), Catch::Contains("cannot come first"));
  CHECK_THROWS_WITH(options_for("deblur", {"--compose", "deblur"}), Catch::Contains("appears twice"));
  CHECK_THROWS_WITH(options_for("deblur", {"--compose", "inpaint,inpaint"}), Catch::Contains("appears twice"));
  CHECK_THROWS_WITH(options_for("sr", {"--compose", "deblur", "--blur", "nowhere.png"}), Catch::Contains("--blur"));
}
