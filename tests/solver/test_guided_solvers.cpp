// DPS and PiGDM with the exact eps-predictor of a Gaussian prior (its Jacobian is closed-form): the
// respaced schedule against guided-diffusion's values, one step of each solver against a hand computation
// in double precision (independent operator matrices, the posterior formulas written out), the DPS
// gradient against central finite differences of the measurement norm, and batch invariance.
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "kernels/philox.h"
#include "operators/operator.h"
#include "solvers/dps_solver.h"
#include "solvers/pigdm_solver.h"
#include "test_util.h"

using namespace reddiff;

namespace {

// x0 ~ N(m, c I) per element: E[eps | x_t] = k_t (x_t - sqrt(ab) m), k_t = sqrt(1 - ab) / (ab c + 1 - ab),
// and J_eps = k_t I. A 6-channel variant returns v = tanh(x_t) in the variance channels; its VJP checks
// that the solver puts no cotangent there.
struct GaussianPrior {
  std::vector<float> m;  // one image [c, h, w]
  double c = 1.0;
  std::vector<double> abar;
  int out_c = 3;
  int last_t = -1, last_n = 0;
  int64_t img = 0;
  int64_t bad_cotangents = 0;

  double k(int t) const {
    double ab = abar[size_t(t)];
    return std::sqrt(1 - ab) / (ab * c + 1 - ab);
  }
  EpsVjpFunctions functions() {
    EpsVjpFunctions f;
    f.out_channels = out_c;
    f.forward = [this](const float* x, int t, float* out, int n, int, int) {
      last_t = t, last_n = n;
      const double kt = k(t), sa = std::sqrt(abar[size_t(t)]);
      const int64_t oimg = img * out_c / 3;
      for (int i = 0; i < n; ++i)
        for (int64_t e = 0; e < img; ++e) {
          out[i * oimg + e] = float(kt * (x[i * img + e] - sa * m[size_t(e)]));
          if (out_c == 6) out[i * oimg + img + e] = std::tanh(x[i * img + e]);
        }
    };
    f.vjp = [this](const float* cot, float* gx) {
      const double kt = k(last_t);
      const int64_t oimg = img * out_c / 3;
      for (int i = 0; i < last_n; ++i)
        for (int64_t e = 0; e < img; ++e) {
          gx[i * img + e] = float(kt * cot[i * oimg + e]);
          if (out_c == 6 && cot[i * oimg + img + e] != 0.0f) ++bad_cotangents;
        }
    };
    return f;
  }
};

struct Fixture {
  ModelConfig mc;
  std::unique_ptr<Model> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Network> net;
  Fixture() {
    named_architecture("ffhq256", &mc);
    mc.adm.model_channels = 32, mc.adm.channel_mult = {1}, mc.adm.attention_resolutions = {};
    model = Model::random(mc, 1);  // stands in: the prior's functions replace the network
    backend = make_cpu_backend(1);
    net = std::make_unique<Network>(*model, *backend, DType::F32);
  }
};

// Average pooling by 2 and its adjoint and pseudo-inverse, written out for one [c, h, w] image.
std::vector<double> pool2(const std::vector<double>& x, int c, int h, int w) {
  std::vector<double> y(size_t(c * (h / 2) * (w / 2)), 0.0);
  for (int k = 0; k < c; ++k)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j)
        y[size_t((k * (h / 2) + i / 2) * (w / 2) + j / 2)] += 0.25 * x[size_t((k * h + i) * w + j)];
  return y;
}
std::vector<double> spread2(const std::vector<double>& y, int c, int h, int w,
                            double scale) {  // scale 0.25: adjoint, 1: nearest
  std::vector<double> x(size_t(c * h * w));
  for (int k = 0; k < c; ++k)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j)
        x[size_t((k * h + i) * w + j)] = scale * y[size_t((k * (h / 2) + i / 2) * (w / 2) + j / 2)];
  return x;
}

std::vector<double> to_double(const float* p, size_t n) { return std::vector<double>(p, p + n); }

double clamp1(double v) { return std::min(1.0, std::max(-1.0, v)); }

// The DPS measurement norm ||y - pool(x0_hat(x))|| of one image at timestep t (double precision).
double dps_norm(const GaussianPrior& P, int t, const std::vector<double>& x, const float* y, int c, int h, int w) {
  const double ab = P.abar[size_t(t)], kt = P.k(t);
  std::vector<double> x0(x.size());
  for (size_t e = 0; e < x.size(); ++e) {
    double eps = kt * (x[e] - std::sqrt(ab) * P.m[e]);
    x0[e] = clamp1(x[e] / std::sqrt(ab) - std::sqrt(1 / ab - 1) * eps);
  }
  auto ax = pool2(x0, c, h, w);
  double s = 0;
  for (size_t i = 0; i < ax.size(); ++i) s += (ax[i] - y[i]) * (ax[i] - y[i]);
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("space_timesteps keeps guided-diffusion's timesteps", "[solver][dps]") {
  // Values printed by DPS2022's space_timesteps(1000, [count]) (Python's round: half to even).
  struct Case {
    int count;
    std::vector<int> head, tail;
    int64_t sum;
  };
  std::vector<Case> cases = {{2, {0, 999}, {0, 999}, 999},
                             {3, {0, 500, 999}, {0, 500, 999}, 1499},
                             {7, {0, 166, 333, 500, 666, 832}, {500, 666, 832, 999}, 3496},
                             {10, {0, 111, 222, 333, 444, 555}, {666, 777, 888, 999}, 4995},
                             {100, {0, 10, 20, 30, 40, 50}, {969, 979, 989, 999}, 49950},
                             {250, {0, 4, 8, 12, 16, 20}, {987, 991, 995, 999}, 124875},
                             {333, {0, 3, 6, 9, 12, 15}, {990, 993, 996, 999}, 166334},
                             {999, {0, 1, 2, 3, 4, 5}, {996, 997, 998, 999}, 499000},
                             {1000, {0, 1, 2, 3, 4, 5}, {996, 997, 998, 999}, 499500}};
  for (const auto& c : cases) {
    INFO("count " << c.count);
    auto s = space_timesteps(1000, c.count);
    REQUIRE(int(s.size()) == c.count);
    CHECK(std::vector<int>(s.begin(), s.begin() + ptrdiff_t(c.head.size())) == c.head);
    CHECK(std::vector<int>(s.end() - ptrdiff_t(c.tail.size()), s.end()) == c.tail);
    CHECK(std::accumulate(s.begin(), s.end(), int64_t(0)) == c.sum);
  }
  CHECK_THROWS(space_timesteps(1000, 1001));
  CHECK_THROWS(space_timesteps(1000, 0));

  // All 1000 steps: the original betas and posterior coefficients.
  Schedule sc;
  auto abar = sc.alphas_cumprod();
  auto betas = sc.betas();
  DpsSchedule full = dps_schedule(abar, 1000);
  for (int k : {1, 10, 500, 999}) {
    double prev = abar[size_t(k - 1)];
    CHECK(std::exp(full.log_beta[size_t(k)]) == Approx(betas[size_t(k)]).epsilon(1e-9));
    CHECK(full.coef1[size_t(k)] == Approx(betas[size_t(k)] * std::sqrt(prev) / (1 - abar[size_t(k)])).epsilon(1e-9));
    CHECK(full.coef2[size_t(k)] ==
          Approx((1 - prev) * std::sqrt(1 - betas[size_t(k)]) / (1 - abar[size_t(k)])).epsilon(1e-9));
  }
  // The clipped log posterior variance at k = 0 repeats k = 1's (guided-diffusion's posterior_log_variance_clipped).
  CHECK(full.log_post_var[0] == full.log_post_var[1]);
  DpsSchedule three = dps_schedule(abar, 3);
  CHECK(three.t == std::vector<int>{0, 500, 999});
  CHECK(std::exp(three.log_beta[1]) == Approx(1 - abar[500] / abar[0]).epsilon(1e-12));
  CHECK(std::exp(three.log_fixed_large[2]) == Approx(1 - abar[999] / abar[500]).epsilon(1e-12));
}

TEST_CASE("one DPS step matches the hand computation, and its gradient the finite differences", "[solver][dps]") {
  Fixture F;
  const Shape4 xs{2, 3, 8, 8};
  const int64_t img = xs.image_numel();
  for (int out_c : {6, 3}) {
    DYNAMIC_SECTION("model output channels " << out_c) {
      GaussianPrior P;
      P.m = reddiff_test::random_normal(size_t(img), 31, 0.8f);  // some |m| > 1, so x0_hat is clamped somewhere
      P.c = 0.5, P.abar = F.mc.schedule.alphas_cumprod(), P.out_c = out_c, P.img = img;
      OperatorOptions oo;
      oo.task = "sr", oo.scale = 2;
      std::vector<uint64_t> ids{5, 6};
      auto A = make_operator(oo, xs, ids, reddiff_test::cpu_backend());
      auto x_true = reddiff_test::random_normal(size_t(xs.numel()), 32, 0.5f);
      std::vector<float> y(size_t(A->measurement_shape().numel())), x(size_t(xs.numel()));
      A->apply(x_true.data(), y.data());

      DpsOptions o;
      o.steps = 10, o.zeta = 0.7, o.seed = 3;
      DpsSolver solver(*F.net, o);
      solver.set_network_functions(P.functions());
      std::vector<std::vector<float>> traj;
      std::vector<int> tsteps;
      solver.solve(*A, y.data(), x.data(), ids, [&](const SolverStep& st) {
        traj.push_back(x);
        tsteps.push_back(st.t);
      });
      REQUIRE(traj.size() == 10);
      CHECK(P.bad_cotangents == 0);
      const DpsSchedule& S = solver.schedule();
      REQUIRE(tsteps == std::vector<int>{999, 888, 777, 666, 555, 444, 333, 222, 111, 0});

      for (int j : {4, 9}) {  // t = 555 (with noise) and the last step t = 0 (no noise)
        const int k = 9 - j, t = S.t[size_t(k)];
        REQUIRE(t == tsteps[size_t(j)]);
        const double ab = P.abar[size_t(t)], ab_prev = k > 0 ? P.abar[size_t(S.t[size_t(k - 1)])] : 1.0;
        const double beta = 1 - ab / ab_prev, kt = P.k(t);
        const double coef1 = beta * std::sqrt(ab_prev) / (1 - ab),
                     coef2 = (1 - ab_prev) * std::sqrt(1 - beta) / (1 - ab);
        const double post = k > 0 ? beta * (1 - ab_prev) / (1 - ab) : 0.0;
        int64_t clipped = 0;
        for (int i = 0; i < xs.n; ++i) {
          auto xp = to_double(traj[size_t(j - 1)].data() + i * img, size_t(img));
          std::vector<double> x0(static_cast<size_t>(img)), inside(static_cast<size_t>(img)),
              v(static_cast<size_t>(img));
          for (int64_t e = 0; e < img; ++e) {
            double eps = kt * (xp[size_t(e)] - std::sqrt(ab) * P.m[size_t(e)]);
            double u = xp[size_t(e)] / std::sqrt(ab) - std::sqrt(1 / ab - 1) * eps;
            x0[size_t(e)] = clamp1(u);
            inside[size_t(e)] = std::fabs(u) <= 1 ? 1.0 : 0.0;
            clipped += std::fabs(u) > 1;
            v[size_t(e)] = std::tanh(float(xp[size_t(e)]));
          }
          const float* yi = y.data() + i * img / 4;
          auto r = pool2(x0, 3, 8, 8);
          double nrm = 0;
          for (size_t q = 0; q < r.size(); ++q) r[q] -= yi[q], nrm += r[q] * r[q];
          nrm = std::sqrt(nrm);
          auto g0 = spread2(r, 3, 8, 8, 0.25);
          std::vector<double> want(static_cast<size_t>(img)), grad(static_cast<size_t>(img)),
              unguided(static_cast<size_t>(img));
          for (int64_t e = 0; e < img; ++e) {
            const size_t q = size_t(e);
            grad[q] = inside[q] * g0[q] / nrm * (1 / std::sqrt(ab) - std::sqrt(1 / ab - 1) * kt);
            double sigma = 0;
            if (k > 0) {
              // learned range between the posterior variance and beta; fixed_large: beta (k > 0 here)
              const double f = (v[q] + 1) / 2;
              const double lv = out_c == 6 ? f * std::log(beta) + (1 - f) * std::log(post) : std::log(beta);
              sigma =
                  std::exp(0.5 * lv) * philox_normal(o.seed, ids[size_t(i)], uint32_t(j), kNoiseSampler, uint64_t(e));
            }
            unguided[q] = coef1 * x0[q] + coef2 * xp[q] + sigma;
            want[q] = unguided[q] - o.zeta * grad[q];
          }
          double err = reddiff_test::rel_l2(traj[size_t(j)].data() + i * img,
                                            std::vector<float>(want.begin(), want.end()).data(), size_t(img));
          INFO("step " << j << " image " << i << ": relative error " << err);
          CHECK(err < 2e-5);

          // The solver's gradient, (unguided step - its x_{t-1}) / zeta, is that of the measurement norm:
          // central differences along random directions.
          if (j == 4) {
            const float* got = traj[size_t(j)].data() + i * img;
            for (size_t q = 0; q < size_t(img); ++q) grad[q] = (unguided[q] - got[q]) / o.zeta;
            for (int d = 0; d < 3; ++d) {
              auto dir = reddiff_test::random_normal(size_t(img), uint64_t(40 + d), 1.0f);
              const double h = 1e-4;
              std::vector<double> xa = xp, xb = xp;
              double dot = 0;
              for (size_t q = 0; q < size_t(img); ++q)
                xa[q] += h * dir[q], xb[q] -= h * dir[q], dot += grad[q] * dir[q];
              double fd = (dps_norm(P, t, xa, yi, 3, 8, 8) - dps_norm(P, t, xb, yi, 3, 8, 8)) / (2 * h);
              INFO("direction " << d << ": finite difference " << fd << ", gradient " << dot);
              CHECK(dot == Approx(fd).epsilon(1e-3).margin(1e-5));
            }
          }
        }
        if (j == 4) {
          INFO("clamped entries of x0_hat: " << clipped);
          CHECK(clipped > 0);
          CHECK(clipped < xs.numel() / 2);
        }
      }
    }
  }
}

TEST_CASE("one PiGDM step matches the hand computation", "[solver][pigdm]") {
  Fixture F;
  const Shape4 xs{2, 3, 8, 8};
  const int64_t img = xs.image_numel(), hw = 64;
  for (std::string task : {"sr", "inpaint"}) {
    DYNAMIC_SECTION(task) {
      GaussianPrior P;
      P.m = reddiff_test::random_normal(size_t(img), 51, 0.5f);
      P.c = 0.5, P.abar = F.mc.schedule.alphas_cumprod(), P.out_c = task == "sr" ? 6 : 3, P.img = img;
      OperatorOptions oo;
      oo.task = task, oo.scale = 2, oo.mask = "random", oo.fraction = 0.5;
      std::vector<uint64_t> ids{11, 12};
      auto A = make_operator(oo, xs, ids, reddiff_test::cpu_backend());
      auto x_true = reddiff_test::random_normal(size_t(xs.numel()), 52, 0.5f);
      std::vector<float> y(size_t(A->measurement_shape().numel())), x(size_t(xs.numel()));
      A->apply(x_true.data(), y.data());

      PigdmOptions o;
      o.steps = 10, o.eta = 0.8, o.weight = 1.3, o.seed = 4, o.contrast = task == "inpaint" ? 0.9 : 0.0;
      PigdmSolver solver(*F.net, o);
      solver.set_network_functions(P.functions());
      std::vector<std::vector<float>> traj;
      solver.solve(*A, y.data(), x.data(), ids, [&](const SolverStep&) { traj.push_back(x); });
      REQUIRE(traj.size() == 10);
      CHECK(P.bad_cotangents == 0);
      const float* mask = A->mask();
      REQUIRE((task == "inpaint") == (mask != nullptr));

      for (int j : {3, 9}) {  // t = 600 -> 500 and the last step t = 0 -> x0
        const int t = 900 - 100 * j, s = t - 100;
        const double ab = P.abar[size_t(t)], abs_ = s >= 0 ? P.abar[size_t(s)] : 1.0, kt = P.k(t);
        const double c1 = o.eta * std::sqrt((1 - ab / abs_) * (1 - abs_) / (1 - ab)),
                     c2 = std::sqrt(1 - abs_ - c1 * c1);
        for (int i = 0; i < xs.n; ++i) {
          auto xp = to_double(traj[size_t(j - 1)].data() + i * img, size_t(img));
          std::vector<double> x0(static_cast<size_t>(img)), eps(static_cast<size_t>(img));
          for (size_t q = 0; q < size_t(img); ++q) {
            eps[q] = kt * (xp[q] - std::sqrt(ab) * P.m[q]);
            x0[q] = (xp[q] - std::sqrt(1 - ab) * eps[q]) / std::sqrt(ab);
          }
          // the guidance vector A+ y - A+ A(x0) (+ the contrast gradient)
          std::vector<double> vec(static_cast<size_t>(img)), keep(size_t(img), 0.0);
          if (task == "sr") {
            const float* yi = y.data() + i * img / 4;
            auto pinv_y = spread2(to_double(yi, size_t(img / 4)), 3, 8, 8, 1.0),
                 pax = spread2(pool2(x0, 3, 8, 8), 3, 8, 8, 1.0);
            for (size_t q = 0; q < size_t(img); ++q) vec[q] = pinv_y[q] - pax[q];
          } else {
            for (size_t q = 0; q < size_t(img); ++q) {
              keep[q] = mask[size_t(i) * hw + q % hw];
              vec[q] = keep[q] * y[size_t(i * img) + q] - keep[q] * keep[q] * x0[q];
            }
            double mean = 0, var = 0;
            for (double v : x0) mean += v / double(img);
            for (double v : x0) var += (v - mean) * (v - mean) / double(img - 1);
            for (size_t q = 0; q < size_t(img); ++q)
              vec[q] += o.contrast * (x0[q] - mean) / (double(img - 1) * std::sqrt(var));
          }
          std::vector<float> want(static_cast<size_t>(img));
          for (size_t q = 0; q < size_t(img); ++q) {
            double grad = vec[q] / std::sqrt(ab) - std::sqrt(1 - ab) / std::sqrt(ab) * kt * vec[q];
            double x0q = x0[q];
            if (task == "inpaint") {
              x0q = x0q * (1 - keep[q]) + y[size_t(i * img) + q] * keep[q];
              grad *= 1 - keep[q];
            }
            double z = c1 != 0 ? philox_normal(o.seed, ids[size_t(i)], uint32_t(j), kNoiseSampler, q) : 0.0;
            want[q] =
                float(std::sqrt(abs_) * x0q + c1 * z + c2 * eps[q] + std::sqrt(abs_) * std::sqrt(ab) * o.weight * grad);
          }
          double err = reddiff_test::rel_l2(traj[size_t(j)].data() + i * img, want.data(), size_t(img));
          INFO("step " << j << " image " << i << ": relative error " << err);
          CHECK(err < 2e-5);
        }
      }
      // Inpainting ends at the measurement on the observed pixels (x0 pasted, guidance masked, ab_s = 1).
      if (task == "inpaint") {
        for (int i = 0; i < xs.n; ++i) {
          for (int64_t e = 0; e < img; ++e)
            if (mask[size_t(i) * hw + e % hw] > 0.5f)
              REQUIRE(x[size_t(i * img + e)] == Approx(y[size_t(i * img + e)]).margin(1e-5));
        }
      }
    }
  }
}

TEST_CASE("DPS and PiGDM: an image's result does not depend on its batch neighbours", "[solver][dps][pigdm]") {
  Fixture F;
  GaussianPrior P;
  const int64_t img = 3 * 8 * 8;
  P.m = reddiff_test::random_normal(size_t(img), 61, 0.5f);
  P.c = 0.5, P.abar = F.mc.schedule.alphas_cumprod(), P.out_c = 6, P.img = img;
  OperatorOptions oo;
  oo.task = "inpaint", oo.mask = "random", oo.fraction = 0.5;
  auto imgs = reddiff_test::random_normal(size_t(2 * img), 62, 0.5f);
  auto run = [&](const std::string& algo, std::vector<uint64_t> ids, const float* xin) {
    Shape4 xs{int(ids.size()), 3, 8, 8};
    auto A = make_operator(oo, xs, ids, reddiff_test::cpu_backend());
    std::vector<float> y(size_t(A->measurement_shape().numel())), x(size_t(xs.numel()));
    A->apply(xin, y.data());
    if (algo == "dps") {
      DpsOptions o;
      o.steps = 20, o.zeta = 0.5, o.seed = 2;
      DpsSolver s(*F.net, o);
      s.set_network_functions(P.functions());
      s.solve(*A, y.data(), x.data(), ids);
    } else {
      PigdmOptions o;
      o.steps = 10, o.seed = 2, o.contrast = 2.0;
      PigdmSolver s(*F.net, o);
      s.set_network_functions(P.functions());
      s.solve(*A, y.data(), x.data(), ids);
    }
    return x;
  };
  for (std::string algo : {"dps", "pigdm"}) {
    INFO(algo);
    auto batch = run(algo, {7, 8}, imgs.data());
    auto alone = run(algo, {8}, imgs.data() + img);
    auto other = run(algo, {7}, imgs.data());
    CHECK(reddiff_test::rel_l2(batch.data() + img, alone.data(), size_t(img)) < 1e-6);
    CHECK(reddiff_test::rel_l2(batch.data(), other.data(), size_t(img)) < 1e-6);
    CHECK(reddiff_test::rel_l2(batch.data(), batch.data() + img, size_t(img)) >
          0.1);  // different ids, different images
  }
}

TEST_CASE("DPS and PiGDM reject bad options", "[solver][dps][pigdm]") {
  Fixture F;
  DpsOptions d;
  d.steps = 1001;
  CHECK_THROWS_WITH(DpsSolver(*F.net, d), Catch::Contains("--steps"));
  d.steps = 10, d.zeta = -1;
  CHECK_THROWS_WITH(DpsSolver(*F.net, d), Catch::Contains("--zeta"));
  PigdmOptions p;
  p.eta = 1.5;
  CHECK_THROWS_WITH(PigdmSolver(*F.net, p), Catch::Contains("--eta"));
  p.eta = 0, p.steps = 2000;
  CHECK_THROWS_WITH(PigdmSolver(*F.net, p), Catch::Contains("--steps"));
}
