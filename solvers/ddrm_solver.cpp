#include "solvers/ddrm_solver.h"

#include <cmath>

#include "base/error.h"
#include "engine/device_buffer.h"
#include "kernels/solver/ddrm_step.h"
#include "operators/svd.h"
#include "solvers/solve_checks.h"

namespace reddiff {

void validate(const DdrmOptions& o) {
  if (o.steps < 1 || o.steps > 100000) throw Error("--steps must be between 1 and 100000");
  if (!(o.eta >= 0 && o.eta <= 1)) throw Error("--eta must be in [0, 1]");
  if (!(o.eta_b >= 0 && o.eta_b <= 1)) throw Error("--eta-b must be in [0, 1]");
}

bool ddrm_supported(const OperatorOptions& o, std::string* why) { return svd_supported(o, why); }

DdrmSolver::DdrmSolver(Network& net, const DdrmOptions& o) : net_(net), o_(o) {
  validate(o_);
  abar_ = net.model().config.schedule.alphas_cumprod();
  const int T = int(abar_.size());
  if (o_.steps > T)
    throw Error("--steps " + std::to_string(o_.steps) + " exceeds the model's " + std::to_string(T) + " timesteps");
}

void DdrmSolver::solve(const SvdOperator& A, const float* y, float* x, const std::vector<uint64_t>& ids,
                       const std::function<void(const SolverStep&)>& on_step) {
  Backend& b = net_.backend();
  const Device dev = b.device();
  const Stream s = b.stream();
  const Shape4 xs = A.input_shape();
  check_solve_inputs(net_, xs, A.device(), ids.size());
  const AdmConfig& cfg = net_.model().config.adm;
  const int out_c = eps_fn_ ? eps_channels_ : cfg.out_channels;
  if (out_c < xs.c) throw Error("solver: the network predicts fewer channels than the image has", 1);
  if (test_noise_ && (dev != Device::CPU || test_noise_->size() != size_t(o_.steps + 1) * size_t(xs.numel())))
    throw Error("solver: test noise of the wrong size (or not on the CPU)", 1);
  const double sigma_0 = 2.0 * A.sigma_y();
  if (!(sigma_0 >= 0) || !std::isfinite(sigma_0)) throw Error("--sigma-y must be >= 0");
  last_sigma_0_ = sigma_0;

  const size_t nx = size_t(xs.numel());
  DeviceBuffer uty(b, nx * 4), vx0(b, nx * 4), veps(b, nx * 4), x0(b, nx * 4), eps(b, nx * 4),
      out(b, size_t(xs.n) * out_c * xs.h * xs.w * 4), dids(b, ids.size() * 8), labels(b, size_t(xs.n) * 4);
  b.upload(dids.get(), ids.data(), ids.size() * 8);
  if (cfg.num_classes > 0 && !eps_fn_) {
    if (o_.class_label < 0 || o_.class_label >= cfg.num_classes)
      throw Error("this model is class-conditional: give --class in [0, " + std::to_string(cfg.num_classes) + ")");
    std::vector<int32_t> l(size_t(xs.n), o_.class_label);
    b.upload(labels.get(), l.data(), l.size() * 4);
  }
  const uint64_t* id_ptr = dev == Device::CUDA ? dids.as<uint64_t>() : ids.data();
  auto noise_row = [&](size_t r) { return test_noise_ ? test_noise_->data() + r * nx : nullptr; };

  const int T = int(abar_.size());
  const auto ts = reddiff_timesteps(T, 0, o_.steps);
  DeviceBuffer tbuf = timestep_table(b, ts, xs.n);
  auto sigma_of = [&](double ab) { return std::sqrt((1 - ab) / ab); };

  // x_T
  A.ut(y, uty.as<float>(), s);
  DdrmInitArgs ia;
  ia.v = vx0.as<float>(), ia.uty = uty.as<float>(), ia.s = A.singulars(), ia.noise = noise_row(0);
  ia.image_ids = id_ptr, ia.seed = o_.seed, ia.n = xs.n, ia.image_numel = xs.image_numel();
  ia.sigma_T = float(sigma_of(abar_[size_t(ts.front())])), ia.sigma_0 = float(sigma_0);
  ddrm_init(dev, ia, s);
  A.v(vx0.as<float>(), x, s);

  for (size_t i = 0; i < ts.size(); ++i) {
    const int t = ts[i];
    const double ab = abar_[size_t(t)], ab_next = i + 1 < ts.size() ? abar_[size_t(ts[i + 1])] : 1.0;
    if (eps_fn_) {
      eps_fn_(x, t, out.as<float>(), xs.n, xs.h, xs.w);
    } else {
      net_.forward(x, tbuf.as<float>() + i * size_t(xs.n), cfg.num_classes > 0 ? labels.as<int32_t>() : nullptr,
                   out.as<float>(), xs.n, xs.h, xs.w);
    }
    DdrmPrepareArgs pa;
    pa.xt = x, pa.eps_hat = out.as<float>(), pa.eps_hat_channels = out_c, pa.x0 = x0.as<float>(),
    pa.eps = eps.as<float>();
    pa.n = xs.n, pa.c = xs.c, pa.hw = int64_t(xs.h) * xs.w;
    pa.sqrt_abar = float(std::sqrt(ab)), pa.sqrt_1m_abar = float(std::sqrt(1 - ab));
    ddrm_prepare(dev, pa, s);
    A.vt(x0.as<float>(), vx0.as<float>(), s);
    A.vt(eps.as<float>(), veps.as<float>(), s);

    DdrmUpdateArgs ua;
    ua.v = vx0.as<float>(), ua.v_eps = veps.as<float>(), ua.uty = uty.as<float>(), ua.s = A.singulars();
    ua.noise = noise_row(i + 1), ua.image_ids = id_ptr, ua.seed = o_.seed, ua.step = uint32_t(i);
    ua.n = xs.n, ua.image_numel = xs.image_numel();
    ua.sigma_next = float(ab_next >= 1.0 ? 0.0 : sigma_of(ab_next)), ua.sigma_0 = float(sigma_0);
    ua.eta = float(o_.eta), ua.eta_b = float(o_.eta_b), ua.sqrt_abar_next = float(std::sqrt(ab_next));
    ddrm_update(dev, ua, s);
    A.v(vx0.as<float>(), x, s);
    // Reported when issued: a device runs at most a launch queue behind, and the loop never waits on it.
    if (on_step) on_step({int(i) + 1, int(ts.size()), t});
  }
  b.synchronize();
}

void DdrmSolver::solve(const Problem& p, const float* y, float* x, const std::vector<uint64_t>& ids,
                       const StepCallback& on_step) {
  if (!p.svd) throw Error("solver: DDRM needs the problem's SVD view (make_problem with_svd)", 1);
  solve(*p.svd, y, x, ids, on_step);
}

// Mirrors solve()'s buffers: U^T y, V^T x0, V^T eps, x0, eps, the network output, ids, labels and the
// timestep table.
size_t DdrmSolver::workspace_bytes(Shape4 xs, Shape4 ys) const {
  (void)ys;
  const size_t nx = size_t(xs.numel()), n = size_t(xs.n);
  const size_t out_c = size_t(eps_fn_ ? eps_channels_ : net_.model().config.adm.out_channels);
  return 5 * nx * 4 + n * out_c * size_t(xs.h) * size_t(xs.w) * 4 + n * 8 + n * 4 + size_t(o_.steps) * n * 4;
}

nlohmann::json to_json(const DdrmOptions& o) {
  using json = nlohmann::json;
  return {{"algo", "ddrm"},     {"steps", o.steps},
          {"eta", o.eta},       {"eta_b", o.eta_b},
          {"sigma_0", nullptr}, {"svd_zero_threshold", SvdOptions{}.zero_threshold},
          {"seed", o.seed},     {"class", o.class_label >= 0 ? json(o.class_label) : json(nullptr)}};
}

nlohmann::json DdrmSolver::describe() const {
  nlohmann::json j = to_json(o_);
  if (last_sigma_0_ >= 0) j["sigma_0"] = last_sigma_0_;
  return j;
}

}  // namespace reddiff
