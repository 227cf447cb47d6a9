// The RED-diff solver: Adam parity with torch.optim.Adam, the timestep schedule, batch invariance, and
// convergence to the closed-form fixed point under an exact Gaussian prior.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "engine/npy.h"
#include "kernels/solver/reddiff_step.h"
#include "operators/operator.h"
#include "solvers/reddiff_solver.h"
#include "test_util.h"

using namespace reddiff;

TEST_CASE("the update kernel's Adam matches torch.optim.Adam(betas=(0.9, 0.99), eps=1e-8)", "[solver]") {
  std::string dir = reddiff_test::testdata("adam_cases/");
  auto p0 = read_npy(dir + "p0.npy"), grads = read_npy(dir + "grads.npy"), traj = read_npy(dir + "traj.npy");
  std::ifstream mf(dir + "meta.json");
  auto meta = nlohmann::json::parse(mf);
  int64_t P = p0.shape[0], K = grads.shape[0];
  std::vector<float> mu = p0.data, m(size_t(P), 0.f), v(size_t(P), 0.f), zeros(size_t(P), 0.f);
  for (int64_t k = 0; k < K; ++k) {
    RedDiffUpdateArgs a;
    a.mu = mu.data(), a.m = m.data(), a.v = v.data();
    // prior term off (eps_hat = eps), data gradient = the torch gradient
    a.eps_hat = zeros.data(), a.eps = zeros.data(), a.eps_hat_channels = 1;
    a.g_data = grads.data.data() + k * P, a.data_weight = 1.0f;
    a.n = 1, a.c = 1, a.hw = P;
    a.adam.lr = meta["lr"].get<float>();
    RedDiffStepScalars sc;  // prior weight 0
    adam_bias_corrections(a.adam, int(k) + 1, sc);
    a.scalars = &sc;
    reddiff_update(Device::CPU, a, nullptr);
    double err = reddiff_test::rel_l2(mu.data(), traj.data.data() + k * P, size_t(P));
    INFO("step " << k + 1);
    REQUIRE(err < 1e-6);
  }
}

TEST_CASE("timesteps descend, are exactly `steps` many, and match the official range when it divides", "[solver]") {
  auto ts = reddiff_timesteps(1000, 0, 100);
  REQUIRE(ts.size() == 100);
  CHECK(ts.front() == 990);
  CHECK(ts.back() == 0);
  for (size_t i = 1; i < ts.size(); ++i) CHECK(ts[i - 1] - ts[i] == 10);
  auto t30 = reddiff_timesteps(1000, 0, 30);  // the official code runs 31 steps here
  CHECK(t30.size() == 30);
  CHECK(t30.front() == 966);
  auto part = reddiff_timesteps(1000, 300, 7);
  CHECK(part.front() == 900);
  CHECK(part.back() == 300);
  CHECK(reddiff_weighting("linear", 2.0) == 2.0);
  CHECK(reddiff_weighting("clip", 2.0) == 1.0);
  CHECK_THROWS(reddiff_weighting("cubic", 2.0));
}

namespace {

// Exact eps-predictor of x0 ~ N(m, c I):  x_t ~ N(sqrt(ab) m, (ab c + 1 - ab) I), so
// E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) m) / (ab c + 1 - ab).
struct GaussianPrior {
  std::vector<float> m;  // one image [c, h, w]
  double c;
  std::vector<double> abar;
  void eps(const float* xt, int t, float* out, int n, int64_t img) const {
    double ab = abar[size_t(t)], s = std::sqrt(1 - ab), sa = std::sqrt(ab), den = ab * c + 1 - ab;
    for (int i = 0; i < n; ++i)
      for (int64_t e = 0; e < img; ++e) out[i * img + e] = float(s * (xt[i * img + e] - sa * m[size_t(e)]) / den);
  }
};

}  // namespace

// Closed form. With the exact predictor above and x_t = sqrt(ab) mu + sqrt(1-ab) eps,
//   E_eps[eps_hat - eps] = sqrt(ab (1-ab)) (mu - m) / (ab c + 1 - ab),
// so the expected RED-diff gradient with w_t = sqrt((1-ab)/ab) is
//   lambda k_t (mu - m) / N + A^T (A mu - y) / M,   k_t = (1 - ab) / (ab c + 1 - ab).
// Its zero, per pixel (A a mask, M = N per image): observed  mu* = (lambda k m + y) / (lambda k + 1),
// holes  mu* = m. The zero-mean remainder, -eps ab c / (ab c + 1 - ab) * lambda w_t / N, is small for a
// narrow prior (c = 0.01) while 1 - ab >> c, i.e. for t >= 300, which is where this test runs
// (t_end = 300; k_t moves from 0.986 to 1 there). Adam then settles within ~lr * noise of mu*.
TEST_CASE("RED-diff reaches the closed-form fixed point of a Gaussian prior", "[solver]") {
  ModelConfig mc;
  named_architecture("ffhq256", &mc);
  mc.adm.model_channels = 32, mc.adm.channel_mult = {1}, mc.adm.attention_resolutions = {};
  auto model = Model::random(mc, 1);  // stands in: the eps function below replaces the network
  auto backend = make_cpu_backend(0);
  Network net(*model, *backend, DType::F32);
  Shape4 xs{2, 3, 16, 16};
  GaussianPrior prior{reddiff_test::random_normal(size_t(xs.image_numel()), 11, 0.5f), 0.01,
                      mc.schedule.alphas_cumprod()};
  auto x_true = reddiff_test::random_normal(size_t(xs.numel()), 12, 0.5f);

  for (std::string task : {"denoise", "inpaint"}) {
    DYNAMIC_SECTION(task) {
      OperatorOptions oo;
      oo.task = task;
      oo.mask = "box";
      oo.box_size = 8;
      std::vector<uint64_t> ids{3, 4};
      auto A = make_operator(oo, xs, ids, reddiff_test::cpu_backend());
      std::vector<float> y(size_t(A->measurement_shape().numel())), mu(size_t(xs.numel()));
      A->apply(x_true.data(), y.data());
      RedDiffOptions o;
      o.steps = 700, o.lr = 0.02, o.lambda = 1.0, o.t_end = 300, o.seed = 9;
      RedDiffSolver solver(net, o);
      solver.set_eps_function(
          [&](const float* xt, int t, float* out, int n, int, int) { prior.eps(xt, t, out, n, xs.image_numel()); }, 3);
      solver.solve(*A, y.data(), mu.data(), ids);

      double ab = prior.abar[300], k = (1 - ab) / (ab * prior.c + 1 - ab), lam = o.lambda;
      std::vector<float> ones(size_t(xs.numel()), 1.0f), keep(size_t(xs.numel()));
      A->apply(ones.data(), keep.data());  // 1 where observed (inpainting keeps pixels; denoise keeps all)
      double se = 0, se_hole = 0;
      int holes = 0;
      for (int64_t i = 0; i < xs.numel(); ++i) {
        float m = prior.m[size_t(i % xs.image_numel())];
        double want = keep[size_t(i)] > 0.5f ? (lam * k * m + y[size_t(i)]) / (lam * k + 1) : m;
        double d = mu[size_t(i)] - want;
        se += d * d;
        if (keep[size_t(i)] < 0.5f) se_hole += d * d, ++holes;
      }
      double rms = std::sqrt(se / double(xs.numel()));
      INFO(task << ": RMS distance to the closed-form fixed point " << rms);
      CHECK(rms < 0.01);
      if (task == "inpaint") {
        REQUIRE(holes > 0);
        CHECK(std::sqrt(se_hole / holes) < 0.01);
      }
    }
  }
}

TEST_CASE("an image's result does not depend on its batch neighbours", "[solver]") {
  ModelConfig mc;
  named_architecture("ffhq256", &mc);
  mc.adm.model_channels = 32, mc.adm.channel_mult = {1, 2}, mc.adm.attention_resolutions = {16};
  mc.adm.num_head_channels = 32;
  auto model = Model::random(mc, 2);
  auto backend = make_cpu_backend(0);
  Network net(*model, *backend, DType::F32);
  RedDiffOptions o;
  o.steps = 5, o.seed = 1;
  OperatorOptions oo;
  oo.task = "inpaint", oo.mask = "random", oo.fraction = 0.5;
  auto imgs = reddiff_test::random_normal(size_t(3 * 3 * 16 * 16), 21, 0.5f);

  auto run = [&](std::vector<uint64_t> ids, const float* x, int n) {
    Shape4 xs{n, 3, 16, 16};
    auto A = make_operator(oo, xs, ids, reddiff_test::cpu_backend());
    std::vector<float> y(size_t(A->measurement_shape().numel())), mu(size_t(xs.numel()));
    A->apply(x, y.data());
    RedDiffSolver s(net, o);
    s.solve(*A, y.data(), mu.data(), ids);
    return mu;
  };
  int64_t img = 3 * 16 * 16;
  auto batch = run({7, 8, 9}, imgs.data(), 3);
  auto alone = run({8}, imgs.data() + img, 1);
  double err = reddiff_test::rel_l2(batch.data() + img, alone.data(), size_t(img));
  CHECK(err < 1e-6);
}
