// The quant operator (dequantisation, the official quant{N}): its quantiser against the official formula,
// the N-bit detection, the interval data term (zero inside each bin, open at the extremes, its gradient
// against finite differences) and the l2 formulation with straight-through rounding.
#include <catch2/catch.hpp>

#include "operators/bins.h"
#include "tests/operators/op_test_util.h"

using namespace reddiff;
using namespace reddiff::test;

namespace {

OperatorOptions quant_options(int bits, const std::vector<float>& image, const std::string& data_term = "interval") {
  OperatorOptions o;
  o.task = "quant";
  o.quant_bits = bits;
  o.data_term = data_term;
  o.quant_image = std::make_shared<const std::vector<float>>(image);
  return o;
}

// NVlabs RED-diff Quantization.H in double: x01 = (x + 1)/2; floor(x01 (2^N - 1) + 1/2)/(2^N - 1) * 2 - 1.
double official(double x, int bits) {
  const double L = double((1 << bits) - 1);
  return std::floor((x + 1) / 2 * L + 0.5) / L * 2 - 1;
}

double half_sq(const std::vector<float>& a, const std::vector<float>& y) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += 0.5 * (double(a[i]) - y[i]) * (double(a[i]) - y[i]);
  return s;
}

}  // namespace

TEST_CASE("quant: the quantiser is the official one, and N is detected from 8-bit files", "[quant]") {
  auto x = random_vec(5000, 1);
  for (int v = 0; v < 256; ++v) x.push_back(float(v) / 127.5f - 1.0f);  // every 8-bit value
  for (int bits : {1, 2, 3, 4, 5, 6, 7, 8}) {
    std::vector<float> y(x.size());
    quantize_levels(x.data(), y.data(), int64_t(x.size()), bits);
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(y[i] - official(x[i], bits)));
    INFO("bits " << bits);
    CHECK(worst < 1e-6);
    // the levels as an 8-bit file stores them (round(255 k / L)) are detected as N bits
    std::vector<float> stored(y.size());
    for (size_t i = 0; i < y.size(); ++i) stored[i] = std::floor((y[i] + 1.0f) * 127.5f + 0.5f) / 127.5f - 1.0f;
    CHECK(detect_quant_bits(stored.data(), int64_t(stored.size())) == bits);
  }
  const std::vector<float> off_grid = {100.5f / 127.5f - 1.0f};  // between two 8-bit values (16-bit data)
  CHECK(detect_quant_bits(off_grid.data(), 1) == 0);
}

TEST_CASE("quant: the interval data term and its gradient", "[quant][gradient]") {
  const Shape4 xs{2, 3, 9, 7};
  const auto clean = random_vec(size_t(xs.numel()), 2);
  for (int bits : {1, 3, 4}) {
    SECTION("bits " + std::to_string(bits)) {
      const OperatorOptions o = quant_options(bits, clean);
      auto A = make_operator(o, xs, {}, reddiff_test::cpu_backend());
      const std::vector<float> y = bound_measurement(o, xs);
      CHECK_FALSE(A->is_linear());
      CHECK(A->measurement_shape() == xs);
      // the clean image lies in its bins: A(x) = y, zero gradient; pinv gives the bin centres
      CHECK(max_abs_diff(op_apply(*A, clean), y) < 1e-6);
      std::vector<float> g(clean.size());
      A->residual_vjp(clean.data(), y.data(), g.data());
      CHECK(max_abs(g) == 0.0);
      CHECK(max_abs_diff(op_pinv(*A, y), y) == 0.0);
      // A(x) - y is the signed distance past the bin (open beyond the extreme levels)
      const double L = double((1 << bits) - 1);
      auto x = random_vec(clean.size(), 3, -1.6f, 1.6f);
      const auto ax = op_apply(*A, x);
      for (size_t i = 0; i < x.size(); ++i) {
        const double c = y[i], k = std::round((c + 1) / 2 * L);
        const double lo = k == 0 ? -1e30 : c - 1 / L, hi = k == L ? 1e30 : c + 1 / L;
        const double d = x[i] < lo ? x[i] - lo : x[i] > hi ? x[i] - hi : 0.0;
        REQUIRE(std::fabs(ax[i] - (c + d)) < 1e-5);
      }
      // gradient = vjp(x, A(x) - y) and finite differences of 0.5 ||A(x) - y||^2
      A->residual_vjp(x.data(), y.data(), g.data());
      std::vector<float> r(x.size());
      for (size_t i = 0; i < x.size(); ++i) r[i] = ax[i] - y[i];
      CHECK(max_abs_diff(g, op_vjp(*A, x, r)) < 1e-6);
      const auto d = random_vec(x.size(), 4);
      const double eps = 1e-3;
      std::vector<float> xp = x, xm = x;
      for (size_t i = 0; i < x.size(); ++i) xp[i] += float(eps) * d[i], xm[i] -= float(eps) * d[i];
      const double fd = (half_sq(op_apply(*A, xp), y) - half_sq(op_apply(*A, xm), y)) / (2 * eps), an = dot(g, d);
      INFO("finite difference " << fd << ", gradient " << an);
      CHECK(std::fabs(fd - an) <= 1e-3 * std::fabs(an) + 1e-5);
    }
  }
}

TEST_CASE("quant: l2 is the official formulation with straight-through rounding", "[quant]") {
  const Shape4 xs{1, 3, 5, 6};
  const auto clean = random_vec(size_t(xs.numel()), 5);
  const OperatorOptions o = quant_options(4, clean, "l2");
  auto A = make_operator(o, xs, {}, reddiff_test::cpu_backend());
  const std::vector<float> y = bound_measurement(o, xs);
  const auto x = random_vec(clean.size(), 6);
  const auto ax = op_apply(*A, x);
  for (size_t i = 0; i < x.size(); ++i) REQUIRE(std::fabs(ax[i] - official(x[i], 4)) < 1e-6);
  const auto r = random_vec(clean.size(), 7);
  CHECK(op_vjp(*A, x, r) == r);
  std::vector<float> g(x.size());
  A->residual_vjp(x.data(), y.data(), g.data());
  for (size_t i = 0; i < x.size(); ++i) REQUIRE(std::fabs(g[i] - (ax[i] - y[i])) < 1e-6);
  CHECK(op_pinv(*A, y) == y);
}

TEST_CASE("quant: option checks", "[quant]") {
  CHECK(options_for("quant", {"--bits", "3"}).quant_bits == 3);
  CHECK_THROWS_WITH(options_for("quant", {"--bits", "9"}), Catch::Contains("--bits must be in 1..8"));
  CHECK_THROWS_WITH(options_for("quant", {"--bits", "x"}), Catch::Contains("--bits: 'x' is not a number"));
  OperatorOptions o;
  o.task = "quant";
  CHECK_THROWS_WITH(make_operator(o, Shape4{1, 3, 4, 4}, {}, reddiff_test::cpu_backend()),
                    Catch::Contains("needs its measured image"));
  o.quant_image = std::make_shared<const std::vector<float>>(std::vector<float>(10, 0.0f));
  CHECK_THROWS_WITH(make_operator(o, Shape4{1, 3, 4, 4}, {}, reddiff_test::cpu_backend()),
                    Catch::Contains("has 10 values"));
}

TEST_CASE("quant: the fraction of samples a result keeps at their measured level", "[quant]") {
  // two images of 2 x 3 x 4 x 5 samples at 3 bits; image 1 with 12 samples moved one level over
  const Shape4 xs{2, 3, 4, 5};
  const int64_t n1 = xs.image_numel();
  auto x = random_vec(size_t(xs.numel()), 4);
  const OperatorOptions o = quant_options(3, x);
  std::vector<float> img(x.begin() + n1, x.end());
  CHECK(bins_kept_fraction(o, xs, 1, img.data()) == 1.0);
  for (int i = 0; i < 12; ++i) {
    float& v = img[size_t(5 * i)];
    v = v > 0.0f ? v - 2.0f / 7.0f : v + 2.0f / 7.0f;  // one 3-bit level (2/7 in [-1, 1] units)
  }
  CHECK(bins_kept_fraction(o, xs, 1, img.data()) == Approx(1.0 - 12.0 / double(n1)).epsilon(1e-12));
  // image 0's own samples measured against image 1's levels: most differ
  CHECK(bins_kept_fraction(o, xs, 1, x.data()) < 0.5);
  CHECK_THROWS_WITH(bins_kept_fraction(o, xs, 2, img.data()), Catch::Contains("image 2"));
}
