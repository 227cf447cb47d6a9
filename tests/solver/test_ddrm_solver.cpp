// The DDRM solver: the whole run against a NumPy transcription of the official algorithm
// (tests/python/gen_ddrm_cases.py) under an exact Gaussian prior, the closed-form moments of its output,
// batch invariance, and its errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/error.h"
#include "engine/model.h"
#include "engine/network.h"
#include "engine/npy.h"
#include "engine/solvers/ddrm_solver.h"
#include "operators/operator.h"
#include "operators/svd.h"
#include "test_util.h"

using namespace reddiff;

namespace {

// A tiny model: the eps functions below replace it where the test needs an exact prior.
struct TinyNet {
  std::unique_ptr<Model> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Network> net;
  explicit TinyNet(bool attention = false) {
    ModelConfig mc;
    named_architecture("ffhq256", &mc);
    mc.adm.model_channels = 32, mc.adm.channel_mult = {1, 2};
    mc.adm.attention_resolutions = attention ? std::vector<int>{16} : std::vector<int>{};
    mc.adm.num_head_channels = 32;
    model = Model::random(mc, 2);
    backend = make_cpu_backend(0);
    net = std::make_unique<Network>(*model, *backend, DType::F32);
  }
};

// Exact eps-predictor of x0 ~ N(m, c I): E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) m) / (ab c + 1 - ab).
struct GaussianPrior {
  std::vector<float> m;  // one image
  double c;
  std::vector<double> abar;
  void eps(const float* xt, int t, float* out, int n) const {
    const double ab = abar[size_t(t)], s = std::sqrt(1 - ab), sa = std::sqrt(ab), den = ab * c + 1 - ab;
    const size_t img = m.size();
    for (int i = 0; i < n; ++i)
      for (size_t e = 0; e < img; ++e) out[i * img + e] = float(s * (xt[i * img + e] - sa * m[e]) / den);
  }
};

}  // namespace

TEST_CASE("DDRM matches a NumPy transcription of the official efficient_generalized_steps", "[ddrm]") {
  const std::string dir = reddiff_test::testdata("ddrm_cases/");
  TinyNet tn;
  for (std::string name : {"inpaint", "sr4", "colorize", "denoise", "deblur"}) {
    DYNAMIC_SECTION(name) {
      std::ifstream mf(dir + name + "/meta.json");
      REQUIRE(mf.good());
      auto meta = nlohmann::json::parse(mf);
      auto y = read_npy(dir + name + "/y.npy"), m = read_npy(dir + name + "/m.npy"),
           noise_img = read_npy(dir + name + "/noise.npy"), want = read_npy(dir + name + "/out.npy");
      const Shape4 xs{2, 3, 8, 8};
      OperatorOptions o;
      o.sigma_y = meta["sigma_y"].get<double>();
      if (name == "inpaint") o.task = "inpaint", o.mask = dir + "mask.npy";
      if (name == "sr4") o.task = "sr", o.scale = 4;
      if (name == "colorize") o.task = "colorize";
      if (name == "denoise") o.task = "denoise";
      if (name == "deblur") o.task = "deblur", o.blur = "gaussian", o.blur_sigma = 0.8, o.blur_size = 7;
      SvdOptions so;
      so.zero_threshold = 0.0;  // the reference keeps every singular value
      const std::vector<uint64_t> ids{0, 1};
      auto A = make_svd_operator(o, xs, ids, Device::CPU, so);
      REQUIRE(y.numel() == A->measurement_shape().numel());

      DdrmOptions d;
      d.steps = meta["steps"].get<int>(), d.eta = meta["eta"].get<double>(), d.eta_b = meta["eta_b"].get<double>();
      // The reference's noise, in reddiff's spectral coordinates.
      const size_t nx = size_t(xs.numel());
      std::vector<float> noise(size_t(d.steps + 1) * nx);
      for (int r = 0; r <= d.steps; ++r) A->vt(noise_img.data.data() + size_t(r) * nx, noise.data() + size_t(r) * nx);
      GaussianPrior prior{m.data, meta["c"].get<double>(), tn.model->config.schedule.alphas_cumprod()};
      DdrmSolver solver(*tn.net, d);
      solver.set_eps_function([&](const float* xt, int t, float* out, int n, int, int) { prior.eps(xt, t, out, n); }, 3);
      solver.set_noise_for_tests(&noise);
      std::vector<float> x(nx);
      int steps_seen = 0;
      solver.solve(*A, y.data.data(), x.data(), ids, [&](const SolverStep& st) { steps_seen = st.index; });
      CHECK(steps_seen == d.steps);
      double worst = 0, scale = 0;
      for (size_t i = 0; i < nx; ++i) {
        worst = std::max(worst, double(std::fabs(x[i] - want.data[i])));
        scale = std::max(scale, double(std::fabs(want.data[i])));
      }
      INFO(name << ": max |reddiff - official| = " << worst << " (max |x| " << scale << ")");
      CHECK(worst < 1e-5 * std::max(1.0, scale));
    }
  }
}

TEST_CASE("an image's DDRM result does not depend on its batch neighbours", "[ddrm]") {
  TinyNet tn(true);
  OperatorOptions oo;
  oo.task = "inpaint", oo.mask = "random", oo.fraction = 0.5, oo.sigma_y = 0.05;
  auto imgs = reddiff_test::random_normal(size_t(3 * 3 * 16 * 16), 21, 0.5f);
  DdrmOptions d;
  d.steps = 4, d.seed = 3;
  auto run = [&](std::vector<uint64_t> ids, const float* x, int n) {
    Shape4 xs{n, 3, 16, 16};
    auto A = make_operator(oo, xs, ids, Device::CPU);
    auto S = make_svd_operator(oo, xs, ids, Device::CPU);
    std::vector<float> y(size_t(A->measurement_shape().numel())), out(size_t(xs.numel()));
    A->apply(x, y.data());
    DdrmSolver s(*tn.net, d);
    s.solve(*S, y.data(), out.data(), ids);
    return out;
  };
  const int64_t img = 3 * 16 * 16;
  auto batch = run({7, 8, 9}, imgs.data(), 3);
  auto alone = run({8}, imgs.data() + img, 1);
  CHECK(reddiff_test::rel_l2(batch.data() + img, alone.data(), size_t(img)) < 1e-6);
  // and the noise is keyed by the image id: another id gives another result
  auto other = run({10}, imgs.data() + img, 1);
  CHECK(reddiff_test::rel_l2(other.data(), alone.data(), size_t(img)) > 1e-3);
}

TEST_CASE("DDRM refuses bad options and operators without an SVD in one line", "[ddrm]") {
  TinyNet tn;
  DdrmOptions d;
  d.eta = 1.5;
  CHECK_THROWS_WITH(DdrmSolver(*tn.net, d), "--eta must be in [0, 1]");
  d = DdrmOptions();
  d.eta_b = -0.1;
  CHECK_THROWS_WITH(DdrmSolver(*tn.net, d), "--eta-b must be in [0, 1]");
  d = DdrmOptions();
  d.steps = 1001;
  CHECK_THROWS_AS(DdrmSolver(*tn.net, d), Error);
  OperatorOptions o;
  std::string why;
  for (std::string t : {"hdr", "phase-retrieval"}) {
    o.task = t;
    CHECK_FALSE(ddrm_supported(o, &why));
    CHECK(why == "DDRM needs an SVD of the operator: " + t + " is nonlinear");
  }
  o.task = "deblur", o.blur = "motion";
  CHECK_FALSE(ddrm_supported(o, &why));
  o.blur = "gaussian";
  CHECK(ddrm_supported(o, &why));
  o.task = "sr", o.sr_kernel = "bicubic";
  CHECK(ddrm_supported(o, &why));
}
