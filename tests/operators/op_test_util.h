// Helpers shared by the operator tests.
#pragma once
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "operators/operator.h"
#include "test_util.h"
#include "tool/operator_options.h"

namespace reddiff::test {

inline std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
  return s;
}
inline double norm(const std::vector<float>& a) { return std::sqrt(dot(a, a)); }
inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}
inline double max_abs(const std::vector<float>& a) {
  double m = 0.0;
  for (float v : a) m = std::max(m, std::fabs(double(v)));
  return m;
}

// Options as the command line would give them: options_for("sr", {"--scale", "2"}).
inline OperatorOptions options_for(const std::string& task, std::vector<std::string> args) {
  cxxopts::Options opts("test");
  add_operator_options(opts);
  std::vector<std::string> all = {"test"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : all) argv.push_back(s.data());
  auto r = opts.parse(int(argv.size()), argv.data());
  return operator_options_from(r, task);
}

// Runs the three maps on host vectors (the operators here are CPU ones).
inline std::vector<float> op_apply(const Operator& op, const std::vector<float>& x) {
  std::vector<float> y(size_t(op.measurement_shape().numel()));
  op.apply(x.data(), y.data());
  return y;
}
inline std::vector<float> op_vjp(const Operator& op, const std::vector<float>& x, const std::vector<float>& r) {
  std::vector<float> g(size_t(op.input_shape().numel()));
  op.vjp(x.data(), r.data(), g.data());
  return g;
}
inline std::vector<float> op_pinv(const Operator& op, const std::vector<float>& y) {
  std::vector<float> x(size_t(op.input_shape().numel()));
  op.pinv(y.data(), x.data());
  return x;
}

inline std::string testdata(const std::string& rel) { return std::string(REDDIFF_TESTDATA) + "/" + rel; }

}  // namespace reddiff::test
