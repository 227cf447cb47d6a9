// RED-diff, DPS and PiGDM on the bin-measurement operators (jpeg, quant): with the exact eps-predictor of a
// Gaussian prior centred on a wrong image m (x_true blurred and shifted), each solver must pull its result
// into the measured bins (the interval loss far below m's) and closer to x_true than m, through the ordinary
// Operator interface (RED-diff: residual_vjp; DPS: apply, vjp; PiGDM: apply, pinv). DDRM refuses them.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "operators/bins.h"
#include "solvers/ddrm_solver.h"
#include "solvers/dps_solver.h"
#include "solvers/pigdm_solver.h"
#include "solvers/reddiff_solver.h"
#include "test_util.h"

using namespace reddiff;

namespace {

// x0 ~ N(m, c I): E[eps | x_t] = k_t (x_t - sqrt(ab) m), k_t = sqrt(1 - ab) / (ab c + 1 - ab); J_eps = k_t I.
struct GaussianPrior {
  std::vector<float> m;
  double c = 0.01;
  std::vector<double> abar;
  int64_t img = 0;
  int last_t = 0, last_n = 0;
  double k(int t) const {
    const double ab = abar[size_t(t)];
    return std::sqrt(1 - ab) / (ab * c + 1 - ab);
  }
  void eps(const float* x, int t, float* out, int n) {
    last_t = t, last_n = n;
    const double kt = k(t), sa = std::sqrt(abar[size_t(t)]);
    for (int i = 0; i < n; ++i)
      for (int64_t e = 0; e < img; ++e) out[i * img + e] = float(kt * (x[i * img + e] - sa * m[size_t(e)]));
  }
  EpsVjpFunctions functions() {
    EpsVjpFunctions f;
    f.out_channels = 3;
    f.forward = [this](const float* x, int t, float* out, int n, int, int) { eps(x, t, out, n); };
    f.vjp = [this](const float* cot, float* gx) {
      const double kt = k(last_t);
      for (int64_t e = 0; e < last_n * img; ++e) gx[e] = float(kt * cot[e]);
    };
    return f;
  }
};

std::vector<float> smooth_image(int h, int w, uint32_t seed, float shift) {
  std::vector<float> x(size_t(3) * h * w);
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < h; ++p)
      for (int q = 0; q < w; ++q)
        x[(size_t(c) * h + p) * w + q] =
            0.6f * std::sin(0.35f * (q + shift) + 0.9f * c + float(seed)) * std::cos(0.27f * (p + shift) - 0.5f * c);
  return x;
}

double interval_loss(const Operator& A, const std::vector<float>& x, const std::vector<float>& y) {
  std::vector<float> ax(y.size());
  A.apply(x.data(), ax.data());
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += 0.5 * (double(ax[i]) - y[i]) * (double(ax[i]) - y[i]);
  return s;
}

double dist(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("RED-diff, DPS and PiGDM restore into the measured bins", "[solver][jpeg][quant]") {
  ModelConfig mc;
  named_architecture("ffhq256", &mc);
  mc.adm.model_channels = 32, mc.adm.channel_mult = {1}, mc.adm.attention_resolutions = {};
  auto model = Model::random(mc, 1);  // stands in: the prior's functions replace the network
  auto backend = make_cpu_backend(1);
  Network net(*model, *backend, DType::F32);
  const int h = 16, w = 24;
  const Shape4 xs{1, 3, h, w};
  const auto x_true = smooth_image(h, w, 1, 0.0f), m = smooth_image(h, w, 1, 1.5f);
  GaussianPrior P;
  P.m = m, P.abar = mc.schedule.alphas_cumprod(), P.img = xs.image_numel();

  for (const std::string task : {"jpeg", "quant"}) {
    OperatorOptions o;
    o.task = task;
    o.data_term = "interval";  // the bins: what this test measures
    if (task == "jpeg") {
      JpegEncodeOptions e;
      e.quality = 20;
      const auto bytes = encode_jpeg(x_true.data(), 3, h, w, e);
      o.jpeg_files = {std::make_shared<const JpegCoefficients>(read_jpeg_memory(bytes.data(), bytes.size()))};
    } else {
      o.quant_bits = 3;
      o.quant_image = std::make_shared<const std::vector<float>>(x_true);
    }
    auto A = make_operator(o, xs, {0}, reddiff_test::cpu_backend());
    const std::vector<float> y = bound_measurement(o, xs);
    const double loss_m = interval_loss(*A, m, y), dist_m = dist(m, x_true);
    REQUIRE(loss_m > 0.0);
    for (const std::string algo : {"reddiff", "dps", "pigdm"}) {
      DYNAMIC_SECTION(task << " " << algo) {
        std::vector<float> x(size_t(xs.numel()));
        if (algo == "reddiff") {
          RedDiffOptions ro;
          ro.steps = 200, ro.lr = 0.05, ro.lambda = 0.05, ro.seed = 3;
          RedDiffSolver s(net, ro);
          s.set_eps_function([&](const float* xt, int t, float* out, int n, int, int) { P.eps(xt, t, out, n); }, 3);
          s.solve(*A, y.data(), x.data(), {0});
        } else if (algo == "dps") {
          DpsOptions d;
          d.steps = 300, d.zeta = 1.5, d.seed = 3;
          DpsSolver s(net, d);
          s.set_network_functions(P.functions());
          s.solve(*A, y.data(), x.data(), {0});
        } else {
          PigdmOptions p;
          p.steps = 50, p.seed = 3;
          PigdmSolver s(net, p);
          s.set_network_functions(P.functions());
          s.solve(*A, y.data(), x.data(), {0});
        }
        const double loss = interval_loss(*A, x, y), d = dist(x, x_true);
        INFO(A->describe() << ": interval loss " << loss << " (prior mean " << loss_m << "), distance to the truth "
                           << d << " (prior mean " << dist_m << ")");
        CHECK(loss < 0.05 * loss_m);
        CHECK(d < dist_m);
      }
    }
  }
  OperatorOptions o;
  o.task = "jpeg";
  std::string why;
  CHECK_FALSE(ddrm_supported(o, &why));
}
