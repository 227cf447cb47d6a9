#include "solvers/dps_solver.h"

#include <cmath>
#include <set>

#include "base/error.h"
#include "engine/device_buffer.h"
#include "kernels/solver/guided_step.h"
#include "operators/operator.h"
#include "solvers/solve_checks.h"

namespace reddiff {

void validate(const DpsOptions& o) {
  if (o.steps < 1 || o.steps > 100000) throw Error("--steps must be between 1 and 100000");
  if (!(o.zeta >= 0) || !std::isfinite(o.zeta)) throw Error("--zeta must be >= 0");
}

std::vector<int> space_timesteps(int T, int count) {
  if (count < 1 || count > T)
    throw Error("--steps " + std::to_string(count) + " must be between 1 and the model's " + std::to_string(T) +
                " timesteps");
  const double stride = count <= 1 ? 1.0 : double(T - 1) / double(count - 1);
  std::set<int> kept;
  double cur = 0.0;  // accumulated, not multiplied, as the official loop
  for (int i = 0; i < count; ++i) {
    kept.insert(int(std::nearbyint(cur)));  // the default rounding mode rounds half to even, as Python
    cur += stride;
  }
  return std::vector<int>(kept.begin(), kept.end());
}

DpsSchedule dps_schedule(const std::vector<double>& alphas_cumprod, int steps) {
  DpsSchedule s;
  s.t = space_timesteps(int(alphas_cumprod.size()), steps);
  const size_t K = s.t.size();
  std::vector<double> beta(K), post_var(K), abar_prev(K);
  double last = 1.0;
  for (size_t k = 0; k < K; ++k) {
    const double ab = alphas_cumprod[size_t(s.t[k])];
    abar_prev[k] = last;
    beta[k] = 1.0 - ab / last;
    s.abar.push_back(ab);
    post_var[k] = beta[k] * (1.0 - last) / (1.0 - ab);
    s.coef1.push_back(beta[k] * std::sqrt(last) / (1.0 - ab));
    s.coef2.push_back((1.0 - last) * std::sqrt(1.0 - beta[k]) / (1.0 - ab));
    last = ab;
  }
  for (size_t k = 0; k < K; ++k) {
    s.log_beta.push_back(std::log(beta[k]));
    // post_var[0] is 0: guided-diffusion uses post_var[1] there (and fixed_large likewise). With a single
    // step there is no k = 1, and step 0 adds no noise, so the value is unused.
    const double pv = k == 0 ? (K > 1 ? post_var[1] : 1.0) : post_var[k];
    s.log_post_var.push_back(std::log(pv));
    s.log_fixed_large.push_back(std::log(k == 0 ? pv : beta[k]));
  }
  return s;
}

DpsSolver::DpsSolver(Network& net, const DpsOptions& o) : net_(net), o_(o) {
  validate(o_);
  sched_ = dps_schedule(net.model().config.schedule.alphas_cumprod(), o_.steps);
}

void DpsSolver::solve(const Operator& A, const float* y, float* x, const std::vector<uint64_t>& ids,
                      const std::function<void(const SolverStep&)>& on_step) {
  Backend& b = net_.backend();
  const Device dev = b.device();
  const Stream s = b.stream();
  const Shape4 xs = A.input_shape(), ys = A.measurement_shape();
  check_solve_inputs(net_, xs, A.device(), ids.size());

  const size_t K = sched_.t.size();
  std::vector<int> ts;  // in the order the steps run
  for (size_t i = 0; i < K; ++i) ts.push_back(sched_.t[K - 1 - i]);
  GuidedNetwork G(net_, has_custom_ ? &custom_ : nullptr, ts, xs.n, o_.class_label);
  const int out_c = G.out_channels();
  if (out_c != xs.c && out_c != 2 * xs.c)
    throw Error("the network has " + std::to_string(out_c) + " output channels; DPS needs " + std::to_string(xs.c) +
                    " or " + std::to_string(2 * xs.c),
                1);
  const bool learned = out_c == 2 * xs.c;

  const size_t nx = size_t(xs.numel()), nout = size_t(xs.n) * out_c * xs.h * xs.w;
  DeviceBuffer x0(b, nx * 4), g(b, nx * 4), gx(b, nx * 4), ax(b, size_t(ys.numel()) * 4), out(b, nout * 4),
      cot(b, nout * 4), sums(b, size_t(xs.n) * 16), dids(b, ids.size() * 8);
  b.upload(dids.get(), ids.data(), ids.size() * 8);
  const uint64_t* id_ptr = dev == Device::CUDA ? dids.as<uint64_t>() : ids.data();
  const int64_t hw = int64_t(xs.h) * xs.w;

  GuidedInitArgs init;
  init.x = x, init.image_ids = id_ptr, init.seed = o_.seed, init.n = xs.n, init.image_numel = xs.image_numel();
  init.a = 0, init.b = 1;
  guided_init(dev, init, s);

  for (size_t i = 0; i < K; ++i) {
    const size_t k = K - 1 - i;
    const double ab = sched_.abar[k];
    const float recip = float(std::sqrt(1.0 / ab)), recipm1 = float(std::sqrt(1.0 / ab - 1.0));
    G.forward(i, x, out.as<float>(), xs.h, xs.w);

    GuidedX0Args xa;
    xa.x = x, xa.eps_hat = out.as<float>(), xa.eps_hat_channels = out_c, xa.x0 = x0.as<float>();
    xa.n = xs.n, xa.c = xs.c, xa.hw = hw, xa.recip = recip, xa.recipm1 = recipm1, xa.clip = true;
    guided_x0(dev, xa, s);

    // r = A(x0) - y and ||r|| per image, then J_A(x0)^T r
    A.apply(x0.as<float>(), ax.as<float>(), s);
    ImageMomentsArgs ma;
    ma.a = ax.as<float>(), ma.b = y, ma.diff = ax.as<float>(), ma.sums = sums.as<double>();
    ma.n = xs.n, ma.image_numel = ys.image_numel();
    image_moments(dev, ma, s);
    A.vjp(x0.as<float>(), ax.as<float>(), g.as<float>(), s);

    DpsCotangentArgs ca;
    ca.x = x, ca.eps_hat = out.as<float>(), ca.eps_hat_channels = out_c, ca.g = g.as<float>(),
    ca.sums = sums.as<double>();
    ca.cot = cot.as<float>(), ca.n = xs.n, ca.c = xs.c, ca.hw = hw, ca.recip = recip, ca.recipm1 = recipm1;
    dps_cotangent(dev, ca, s);
    G.vjp(cot.as<float>(), gx.as<float>());

    DpsUpdateArgs ua;
    ua.x = x, ua.x0 = x0.as<float>(), ua.eps_hat = out.as<float>(), ua.eps_hat_channels = out_c,
    ua.learned_sigma = learned;
    ua.g = g.as<float>(), ua.gx = gx.as<float>(), ua.image_ids = id_ptr, ua.seed = o_.seed, ua.step = uint32_t(i);
    ua.n = xs.n, ua.c = xs.c, ua.hw = hw;
    ua.coef1 = float(sched_.coef1[k]), ua.coef2 = float(sched_.coef2[k]), ua.recip = recip, ua.zeta = float(o_.zeta);
    ua.log_var_min = float(learned ? sched_.log_post_var[k] : sched_.log_fixed_large[k]);
    ua.log_var_max = float(sched_.log_beta[k]);
    ua.noise = k != 0;
    dps_update(dev, ua, s);
    if (on_step) on_step({int(i) + 1, int(K), ts[i]});
  }
  b.synchronize();
}

// Mirrors solve()'s buffers: x0, g, grad_x, A(x0), the network output and its cotangent, per-image sums, ids,
// and GuidedNetwork's timestep table and labels (none with replacement network functions).
size_t DpsSolver::workspace_bytes(Shape4 xs, Shape4 ys) const {
  const size_t nx = size_t(xs.numel()), n = size_t(xs.n);
  const size_t out_c = size_t(has_custom_ ? custom_.out_channels : net_.model().config.adm.out_channels);
  const size_t nout = n * out_c * size_t(xs.h) * size_t(xs.w);
  const size_t guided =
      has_custom_ ? 0 : sched_.t.size() * n * 4 + (net_.model().config.adm.num_classes > 0 ? n * 4 : 0);
  return 3 * nx * 4 + size_t(ys.numel()) * 4 + 2 * nout * 4 + n * 16 + n * 8 + guided;
}

nlohmann::json to_json(const DpsOptions& o) {
  using json = nlohmann::json;
  return {{"algo", "dps"},
          {"steps", o.steps},
          {"zeta", o.zeta},
          {"seed", o.seed},
          {"class", o.class_label >= 0 ? json(o.class_label) : json(nullptr)}};
}

nlohmann::json DpsSolver::describe() const { return to_json(o_); }

}  // namespace reddiff
