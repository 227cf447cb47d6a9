#include "solvers/pigdm_solver.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "engine/device_buffer.h"
#include "kernels/solver/guided_step.h"
#include "operators/operator.h"
#include "solvers/solve_checks.h"

namespace reddiff {

void validate(const PigdmOptions& o) {
  if (o.steps < 1 || o.steps > 100000) throw Error("--steps must be between 1 and 100000");
  if (!(o.eta >= 0 && o.eta <= 1)) throw Error("--eta must be in [0, 1]");
  if (!std::isfinite(o.weight)) throw Error("--zeta must be a finite number");
  if (!std::isfinite(o.contrast)) throw Error("the contrast weight must be a finite number");
}

PigdmSolver::PigdmSolver(Network& net, const PigdmOptions& o) : net_(net), o_(o) {
  validate(o_);
  abar_ = net.model().config.schedule.alphas_cumprod();
  const int T = int(abar_.size());
  if (o_.steps > T)
    throw Error("--steps " + std::to_string(o_.steps) + " exceeds the model's " + std::to_string(T) + " timesteps");
}

void PigdmSolver::solve(const Operator& A, const float* y, float* x, const std::vector<uint64_t>& ids,
                        const std::function<void(const SolverStep&)>& on_step) {
  Backend& b = net_.backend();
  const Device dev = b.device();
  const Stream s = b.stream();
  const Shape4 xs = A.input_shape(), ys = A.measurement_shape();
  check_solve_inputs(net_, xs, A.device(), ids.size());

  const std::vector<int> ts = reddiff_timesteps(int(abar_.size()), 0, o_.steps);
  GuidedNetwork G(net_, has_custom_ ? &custom_ : nullptr, ts, xs.n, o_.class_label);
  const int out_c = G.out_channels();
  if (out_c < xs.c) throw Error("the network has fewer output channels than the image", 1);

  const size_t nx = size_t(xs.numel()), nout = size_t(xs.n) * out_c * xs.h * xs.w;
  DeviceBuffer py(b, nx * 4), x0(b, nx * 4), g(b, nx * 4), gx(b, nx * 4), ax(b, size_t(ys.numel()) * 4),
      out(b, nout * 4), cot(b, nout * 4), sums(b, size_t(xs.n) * 16), dids(b, ids.size() * 8);
  b.upload(dids.get(), ids.data(), ids.size() * 8);
  const uint64_t* id_ptr = dev == Device::CUDA ? dids.as<uint64_t>() : ids.data();
  const int64_t hw = int64_t(xs.h) * xs.w;
  const float* mask = A.mask();

  A.pinv(y, py.as<float>(), s);
  const double ab_T = abar_[size_t(ts.front())];
  GuidedInitArgs init;
  init.x = x, init.base = py.as<float>(), init.image_ids = id_ptr, init.seed = o_.seed, init.n = xs.n;
  init.image_numel = xs.image_numel(), init.a = float(std::sqrt(ab_T)), init.b = float(std::sqrt(1 - ab_T));
  guided_init(dev, init, s);

  for (size_t i = 0; i < ts.size(); ++i) {
    const double ab_t = abar_[size_t(ts[i])], ab_s = i + 1 < ts.size() ? abar_[size_t(ts[i + 1])] : 1.0;
    const float recip = float(1.0 / std::sqrt(ab_t)), recipm1 = float(std::sqrt(1.0 - ab_t) / std::sqrt(ab_t));
    G.forward(i, x, out.as<float>(), xs.h, xs.w);

    GuidedX0Args xa;
    xa.x = x, xa.eps_hat = out.as<float>(), xa.eps_hat_channels = out_c, xa.x0 = x0.as<float>();
    xa.n = xs.n, xa.c = xs.c, xa.hw = hw, xa.recip = recip, xa.recipm1 = recipm1, xa.clip = false;
    guided_x0(dev, xa, s);
    if (o_.contrast != 0) {
      ImageMomentsArgs ma;
      ma.a = x0.as<float>(), ma.sums = sums.as<double>(), ma.n = xs.n, ma.image_numel = xs.image_numel();
      image_moments(dev, ma, s);
    }
    // g = A+(A(x0)); the cotangent kernel turns it into the guidance vector A+ y - A+ A(x0) (+ contrast)
    A.apply(x0.as<float>(), ax.as<float>(), s);
    A.pinv(ax.as<float>(), g.as<float>(), s);
    PigdmCotangentArgs ca;
    ca.x0 = x0.as<float>(), ca.pinv_y = py.as<float>(), ca.g = g.as<float>(), ca.x0_sums = sums.as<double>();
    ca.contrast = float(o_.contrast), ca.cot = cot.as<float>(), ca.eps_hat_channels = out_c;
    ca.n = xs.n, ca.c = xs.c, ca.hw = hw, ca.recipm1 = recipm1;
    pigdm_cotangent(dev, ca, s);
    G.vjp(cot.as<float>(), gx.as<float>());

    const double c1 = o_.eta * std::sqrt((1 - ab_t / ab_s) * (1 - ab_s) / (1 - ab_t));
    PigdmUpdateArgs ua;
    ua.x = x, ua.x0 = x0.as<float>(), ua.eps_hat = out.as<float>(), ua.eps_hat_channels = out_c;
    ua.g = g.as<float>(), ua.gx = gx.as<float>(), ua.mask = mask, ua.pinv_y = py.as<float>();
    ua.image_ids = id_ptr, ua.seed = o_.seed, ua.step = uint32_t(i), ua.n = xs.n, ua.c = xs.c, ua.hw = hw;
    ua.sqrt_abar_s = float(std::sqrt(ab_s)), ua.c1 = float(c1),
    ua.c2 = float(std::sqrt(std::max(0.0, 1 - ab_s - c1 * c1)));
    ua.coeff = float(std::sqrt(ab_s) * std::sqrt(ab_t) * o_.weight), ua.recip = recip;
    pigdm_update(dev, ua, s);
    if (on_step) on_step({int(i) + 1, int(ts.size()), ts[i]});
  }
  b.synchronize();
}

// Mirrors solve()'s buffers: A+(y), x0, g, grad_x, A(x0), the network output and its cotangent, per-image
// sums, ids, and GuidedNetwork's timestep table and labels (none with replacement network functions).
size_t PigdmSolver::workspace_bytes(Shape4 xs, Shape4 ys) const {
  const size_t nx = size_t(xs.numel()), n = size_t(xs.n);
  const size_t out_c = size_t(has_custom_ ? custom_.out_channels : net_.model().config.adm.out_channels);
  const size_t nout = n * out_c * size_t(xs.h) * size_t(xs.w);
  const size_t guided =
      has_custom_ ? 0 : size_t(o_.steps) * n * 4 + (net_.model().config.adm.num_classes > 0 ? n * 4 : 0);
  return 4 * nx * 4 + size_t(ys.numel()) * 4 + 2 * nout * 4 + n * 16 + n * 8 + guided;
}

nlohmann::json to_json(const PigdmOptions& o) {
  using json = nlohmann::json;
  return {{"algo", "pigdm"},
          {"steps", o.steps},
          {"zeta", o.weight},
          {"eta", o.eta},
          {"contrast", o.contrast},
          {"seed", o.seed},
          {"class", o.class_label >= 0 ? json(o.class_label) : json(nullptr)}};
}

nlohmann::json PigdmSolver::describe() const { return to_json(o_); }

}  // namespace reddiff
