// PSNR and SSIM (engine/metrics.h) against scikit-image 0.19 on random and structured image pairs
// (tests/python/gen_metric_cases.py): peak_signal_noise_ratio(data_range=1) and structural_similarity(
// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0).
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/metrics.h"
#include "engine/npy.h"
#include "test_util.h"

using namespace reddiff;

TEST_CASE("PSNR and SSIM match scikit-image", "[metrics]") {
  std::ifstream f(reddiff_test::testdata("metric_cases/cases.json"));
  REQUIRE(f);
  nlohmann::json cases = nlohmann::json::parse(f);
  REQUIRE(cases.size() >= 8);
  for (const auto& c : cases) {
    const std::string name = c["name"];
    INFO(name);
    NpyArray x = read_npy(reddiff_test::testdata("metric_cases/" + name + "_x.npy"));
    NpyArray ref = read_npy(reddiff_test::testdata("metric_cases/" + name + "_ref.npy"));
    REQUIRE(x.shape == ref.shape);
    REQUIRE(x.shape.size() == 3);
    const int ch = int(x.shape[0]), h = int(x.shape[1]), w = int(x.shape[2]);
    const double p = psnr(x.data.data(), ref.data.data(), x.data.size());
    const double s = ssim(x.data.data(), ref.data.data(), ch, h, w);
    CHECK(p == Approx(c["psnr"].get<double>()).margin(1e-4));
    CHECK(s == Approx(c["ssim"].get<double>()).margin(1e-4));
  }
}

TEST_CASE("metric edge cases", "[metrics]") {
  auto a = reddiff_test::random_normal(3 * 16 * 16, 3);
  CHECK(std::isinf(psnr(a.data(), a.data(), a.size())));
  CHECK(ssim(a.data(), a.data(), 3, 16, 16) == Approx(1.0).margin(1e-12));
  CHECK(std::isnan(ssim(a.data(), a.data(), 3, 10, 25)));  // below the 11x11 window
  // PSNR with another data range: 10 log10(R^2 / mse).
  std::vector<float> z(4, 0.0f), o(4, 2.0f);
  CHECK(psnr(z.data(), o.data(), 4, 255.0) == Approx(10 * std::log10(255.0 * 255.0 / 4.0)));
}
