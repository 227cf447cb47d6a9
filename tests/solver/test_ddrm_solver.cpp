// The DDRM solver: the whole run against a NumPy transcription of the official algorithm
// (tests/python/gen_ddrm_cases.py) under an exact Gaussian prior, the closed-form moments of its output,
// batch invariance, and its errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "engine/npy.h"
#include "operators/operator.h"
#include "operators/svd.h"
#include "solvers/ddrm_solver.h"
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
      auto A = make_svd_operator(o, xs, ids, reddiff_test::cpu_backend(), so);
      REQUIRE(y.numel() == A->measurement_shape().numel());

      DdrmOptions d;
      d.steps = meta["steps"].get<int>(), d.eta = meta["eta"].get<double>(), d.eta_b = meta["eta_b"].get<double>();
      // The reference's noise, in reddiff's spectral coordinates.
      const size_t nx = size_t(xs.numel());
      std::vector<float> noise(size_t(d.steps + 1) * nx);
      for (int r = 0; r <= d.steps; ++r) A->vt(noise_img.data.data() + size_t(r) * nx, noise.data() + size_t(r) * nx);
      GaussianPrior prior{m.data, meta["c"].get<double>(), tn.model->config.schedule.alphas_cumprod()};
      DdrmSolver solver(*tn.net, d);
      solver.set_eps_function([&](const float* xt, int t, float* out, int n, int, int) { prior.eps(xt, t, out, n); },
                              3);
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

// Closed form. Under the prior x0 ~ N(0, I) the exact predictor is eps(x_t) = sqrt(1 - ab) x_t, so
// x0 = sqrt(ab) x_t. In the scaled variable xb = x_t / sqrt(ab) and V's coordinates, with ybar = (U^T y)_k / s_k,
// a = ab_t, sn = sigma_{t'}, tau = sqrt(1 - eta^2) sn, every case of the update is affine in xb plus fresh
// noise, so given y each coordinate stays Gaussian with mean M and variance Q:
//   start   measured (s L > sigma_0): M = ybar / (L sqrt(a_T)), Q = (L^2 - sigma_0^2/s^2) / (L^2 a_T); else M = 0, Q =
//   1/a_T noisier than y (s sn > sigma_0): M' = eta_b ybar + (1 - eta_b) a M,   Q' = (1 - eta_b)^2 a^2 Q + sn^2 -
//   eta_b^2 sigma_0^2/s^2 less noisy (0 < s sn < sigma_0): g = a (1 - tau s/sigma_0): M' = g M + tau s ybar/sigma_0, Q'
//   = g^2 Q + eta^2 sn^2 unmeasured (s = 0):              g = a (1 + tau sigma_t):    M' = g M,                   Q' =
//   g^2 Q + eta^2 sn^2
// and the output is xb after the last step (sn = 0, abar = 1). The test runs the solver with its own keyed
// noise and checks that (V^T out - M) / sqrt(Q) has mean 0 and variance 1 over the coordinates.
TEST_CASE("DDRM's output has the closed-form mean and variance under a standard Gaussian prior", "[ddrm]") {
  TinyNet tn;
  const auto abar = tn.model->config.schedule.alphas_cumprod();
  struct Setting {
    std::string task;
    double sigma_y, eta, eta_b;
    int steps;
  };
  for (const Setting& st : {Setting{"inpaint", 0.05, 0.85, 1.0, 20}, Setting{"inpaint", 0.02, 0.3, 0.5, 10},
                            Setting{"sr", 0.05, 0.85, 1.0, 20}, Setting{"colorize", 0.0, 0.85, 1.0, 20}}) {
    DYNAMIC_SECTION(st.task << " sigma_y " << st.sigma_y << " eta " << st.eta << " eta_b " << st.eta_b) {
      const Shape4 xs{4, 3, 32, 32};
      const std::vector<uint64_t> ids{0, 1, 2, 3};
      OperatorOptions o;
      o.task = st.task, o.mask = "random", o.fraction = 0.5, o.scale = 2, o.sigma_y = st.sigma_y, o.seed = 1;
      auto A = make_operator(o, xs, ids, reddiff_test::cpu_backend());
      auto S = make_svd_operator(o, xs, ids, reddiff_test::cpu_backend());
      const size_t nx = size_t(xs.numel());
      auto x = reddiff_test::random_normal(nx, 5, 1.0f);
      std::vector<float> y(size_t(A->measurement_shape().numel()));
      A->apply(x.data(), y.data());
      auto n = reddiff_test::random_normal(y.size(), 6, float(2 * st.sigma_y));
      for (size_t i = 0; i < y.size(); ++i) y[i] += n[i];

      DdrmOptions d;
      d.steps = st.steps, d.eta = st.eta, d.eta_b = st.eta_b, d.seed = 8;
      DdrmSolver solver(*tn.net, d);
      solver.set_eps_function(
          [&](const float* xt, int t, float* out, int nn, int, int) {
            const float k = float(std::sqrt(1 - abar[size_t(t)]));
            for (size_t i = 0; i < size_t(nn) * xs.image_numel(); ++i) out[i] = k * xt[i];
          },
          3);
      std::vector<float> out(nx), vout(nx), uty(nx);
      solver.solve(*S, y.data(), out.data(), ids);
      S->vt(out.data(), vout.data());
      S->ut(y.data(), uty.data());

      const auto ts = reddiff_timesteps(int(abar.size()), 0, d.steps);
      const double s0 = 2 * st.sigma_y, L = std::sqrt((1 - abar[size_t(ts[0])]) / abar[size_t(ts[0])]);
      double sum[2] = {0, 0}, sq[2] = {0, 0};
      int64_t cnt[2] = {0, 0};
      for (size_t k = 0; k < nx; ++k) {
        const double s = S->singulars_host()[k], yb = s > 0 ? uty[k] / s : 0.0;
        double M = 0, Q = 1 / abar[size_t(ts[0])];
        if (s > 0 && s * L > s0)
          M = yb / (L * std::sqrt(abar[size_t(ts[0])])),
          Q = (L * L - s0 * s0 / (s * s)) / (L * L * abar[size_t(ts[0])]);
        for (size_t i = 0; i < ts.size(); ++i) {
          const double a = abar[size_t(ts[i])], an = i + 1 < ts.size() ? abar[size_t(ts[i + 1])] : 1.0;
          const double sn = std::sqrt((1 - an) / an), sig = std::sqrt((1 - a) / a),
                       tau = std::sqrt(1 - d.eta * d.eta) * sn;
          if (s > 0 && s * sn > s0) {
            M = d.eta_b * yb + (1 - d.eta_b) * a * M;
            Q = (1 - d.eta_b) * (1 - d.eta_b) * a * a * Q + sn * sn - d.eta_b * d.eta_b * s0 * s0 / (s * s);
          } else if (s > 0 && s * sn < s0) {
            const double g = a * (1 - tau * s / s0);
            M = g * M + tau * s * yb / s0, Q = g * g * Q + d.eta * d.eta * sn * sn;
          } else {
            const double g = a * (1 + tau * sig);
            M = g * M, Q = g * g * Q + d.eta * d.eta * sn * sn;
          }
        }
        const double r = (vout[k] - M) / std::sqrt(Q);
        const int c = s > 0 ? 1 : 0;
        sum[c] += r, sq[c] += r * r, ++cnt[c];
      }
      for (int c = 0; c < 2; ++c) {
        REQUIRE(cnt[c] > 1000);
        const double mean = sum[c] / double(cnt[c]), var = sq[c] / double(cnt[c]) - mean * mean;
        INFO((c ? "measured" : "unmeasured")
             << " coordinates: " << cnt[c] << ", normalised mean " << mean << ", variance " << var);
        CHECK(std::fabs(mean) < 5 / std::sqrt(double(cnt[c])));
        CHECK(std::fabs(var - 1) < 5 * std::sqrt(2 / double(cnt[c])));
      }
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
    auto A = make_operator(oo, xs, ids, reddiff_test::cpu_backend());
    auto S = make_svd_operator(oo, xs, ids, reddiff_test::cpu_backend());
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
