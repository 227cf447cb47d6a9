#include "solvers/reddiff_solver.h"

#include <cmath>

#include "base/error.h"
#include "engine/device_buffer.h"
#include "kernels/philox.h"
#include "kernels/solver/reddiff_step.h"
#include "operators/operator.h"
#include "solvers/solve_checks.h"

namespace reddiff {

std::vector<int> reddiff_timesteps(int t_start, int t_end, int steps) {
  std::vector<int> ts;
  for (int i = steps - 1; i >= 0; --i) ts.push_back(t_end + int(int64_t(i) * (t_start - t_end) / steps));
  return ts;
}

DeviceBuffer timestep_table(Backend& b, const std::vector<int>& ts, int n) {
  std::vector<float> v;
  for (int t : ts) v.insert(v.end(), size_t(n), float(t));
  DeviceBuffer buf(b, v.size() * 4);
  b.upload(buf.get(), v.data(), v.size() * 4);
  return buf;
}

double reddiff_weighting(const std::string& name, double s) {
  if (name == "linear") return s;
  if (name == "sqrt") return std::sqrt(s);
  if (name == "square") return s * s;
  if (name == "log") return std::log1p(s);
  if (name == "clip" || name == "trunc_linear") return std::min(s, 1.0);
  if (name == "power2over3") return std::pow(s, 2.0 / 3.0);
  if (name == "const") return 1.0;
  throw Error("--weighting must be linear, sqrt, square, log, clip, power2over3 or const (got '" + name + "')");
}

void validate(const RedDiffOptions& o) {
  if (o.steps < 1 || o.steps > 100000) throw Error("--steps must be between 1 and 100000");
  if (!(o.lr > 0)) throw Error("--lr must be positive");
  if (!(o.lambda >= 0)) throw Error("--lambda must be >= 0");
  if (!(o.sigma_x0 >= 0)) throw Error("--sigma-x0 must be >= 0");
  if (o.init != "pinv" && o.init != "zeros" && o.init != "noise") throw Error("--init must be pinv, zeros or noise");
  if (o.t_end < 0 || (o.t_start >= 0 && o.t_start <= o.t_end)) throw Error("--t-end must be >= 0 and below --t-start");
  reddiff_weighting(o.weighting, 1.0);
}

RedDiffSolver::RedDiffSolver(Network& net, const RedDiffOptions& o) : net_(net), o_(o) {
  validate(o_);
  t_start_given_ = o_.t_start;
  abar_ = net.model().config.schedule.alphas_cumprod();
  int T = int(abar_.size());
  if (o_.t_start < 0) o_.t_start = T;
  if (o_.t_start > T)
    throw Error("--t-start " + std::to_string(o_.t_start) + " exceeds the model's " + std::to_string(T) + " timesteps");
  if (o_.steps > o_.t_start - o_.t_end)
    throw Error("--steps " + std::to_string(o_.steps) + " exceeds the " + std::to_string(o_.t_start - o_.t_end) +
                " timesteps in [t_end, t_start)");
}

void RedDiffSolver::solve(const Operator& A, const float* y, float* mu, const std::vector<uint64_t>& ids,
                          const std::function<void(const SolverStep&)>& on_step) {
  Backend& b = net_.backend();
  Device dev = b.device();
  Stream s = b.stream();
  Shape4 xs = A.input_shape(), ys = A.measurement_shape();
  check_solve_inputs(net_, xs, A.device(), ids.size());
  const AdmConfig& cfg = net_.model().config.adm;
  int out_c = eps_fn_ ? eps_channels_ : cfg.out_channels;

  size_t nx = size_t(xs.numel());
  DeviceBuffer m(b, nx * 4), v(b, nx * 4), eps(b, nx * 4), xt(b, nx * 4), gdata(b, nx * 4),
      x0(b, o_.sigma_x0 > 0 ? nx * 4 : 0), out(b, size_t(xs.n) * out_c * xs.h * xs.w * 4), dids(b, ids.size() * 8),
      labels(b, size_t(xs.n) * 4);
  b.upload(dids.get(), ids.data(), ids.size() * 8);
  std::vector<float> zeros(nx, 0.0f);
  b.upload(m.get(), zeros.data(), nx * 4);
  b.upload(v.get(), zeros.data(), nx * 4);
  if (cfg.num_classes > 0 && !eps_fn_) {
    if (o_.class_label < 0 || o_.class_label >= cfg.num_classes)
      throw Error("this model is class-conditional: give --class in [0, " + std::to_string(cfg.num_classes) + ")");
    std::vector<int32_t> l(size_t(xs.n), o_.class_label);
    b.upload(labels.get(), l.data(), l.size() * 4);
  }

  // mu_0
  if (o_.init == "pinv") {
    A.pinv(y, mu, s);
  } else if (o_.init == "zeros") {
    b.upload(mu, zeros.data(), nx * 4);
  } else {
    NoiseFillArgs a;
    a.x = mu, a.image_ids = dev == Device::CUDA ? dids.as<uint64_t>() : ids.data();
    a.seed = o_.seed, a.step = 0, a.stream = kNoiseInit, a.n = xs.n, a.image_numel = xs.image_numel();
    noise_fill(dev, a, s);
  }

  auto ts = reddiff_timesteps(o_.t_start, o_.t_end, o_.steps);
  // Every step's scalars, uploaded once; reddiff_step_begin selects step *counter's row on the device.
  AdamState adam;
  adam.lr = float(o_.lr);
  double n_img = double(xs.image_numel()), m_img = double(ys.image_numel());
  std::vector<RedDiffStepScalars> table(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    double ab = abar_[size_t(ts[i])];
    RedDiffStepScalars& sc = table[i];
    sc.t = float(ts[i]);
    sc.sqrt_abar = float(std::sqrt(ab)), sc.sqrt_1m_abar = float(std::sqrt(1 - ab));
    sc.prior_weight = float(o_.lambda * reddiff_weighting(o_.weighting, std::sqrt((1 - ab) / ab)) / n_img);
    sc.step = uint32_t(i);
    adam_bias_corrections(adam, int(i) + 1, sc);
  }
  DeviceBuffer dtable(b, table.size() * sizeof(RedDiffStepScalars)), current(b, sizeof(RedDiffStepScalars)),
      counter(b, sizeof(int32_t)), t_in(b, size_t(xs.n) * sizeof(float));
  b.upload(dtable.get(), table.data(), dtable.bytes());
  const int32_t zero = 0;
  b.upload(counter.get(), &zero, sizeof zero);

  // One step, the same launches with the same arguments every time (per-step values are read on the device).
  auto issue_step = [&](size_t i) {
    RedDiffStepBeginArgs ba;
    ba.table = dtable.as<RedDiffStepScalars>(), ba.counter = counter.as<int32_t>(),
    ba.current = current.as<RedDiffStepScalars>();
    ba.t_in = t_in.as<float>(), ba.n = xs.n;
    reddiff_step_begin(dev, ba, s);

    RedDiffNoiseArgs na;
    na.mu = mu, na.eps = eps.as<float>(), na.x0 = o_.sigma_x0 > 0 ? x0.as<float>() : nullptr, na.xt = xt.as<float>();
    na.image_ids = dev == Device::CUDA ? dids.as<uint64_t>() : ids.data();
    na.scalars = current.as<RedDiffStepScalars>();
    na.seed = o_.seed, na.n = xs.n, na.image_numel = xs.image_numel(), na.sigma_x0 = float(o_.sigma_x0);
    reddiff_noise(dev, na, s);

    if (eps_fn_) {
      eps_fn_(xt.as<float>(), ts[i], out.as<float>(), xs.n, xs.h, xs.w);
    } else {
      net_.forward(xt.as<float>(), t_in.as<float>(), cfg.num_classes > 0 ? labels.as<int32_t>() : nullptr,
                   out.as<float>(), xs.n, xs.h, xs.w);
    }
    // Data term at x0 = mu + sigma_x0 * eps0 (= mu by default).
    A.residual_vjp(o_.sigma_x0 > 0 ? x0.as<float>() : mu, y, gdata.as<float>(), s);

    RedDiffUpdateArgs ua;
    ua.mu = mu, ua.m = m.as<float>(), ua.v = v.as<float>();
    ua.eps_hat = out.as<float>(), ua.eps_hat_channels = out_c, ua.eps = eps.as<float>(), ua.g_data = gdata.as<float>();
    ua.scalars = current.as<RedDiffStepScalars>();
    ua.n = xs.n, ua.c = xs.c, ua.hw = int64_t(xs.h) * xs.w;
    ua.data_weight = float(1.0 / m_img);
    ua.adam = adam;
    reddiff_update(dev, ua, s);
  };

  // Step 0 runs launch by launch (it compiles the plan and sizes every scratch buffer); then one step is
  // captured and replayed for the rest when the backend can, else every step runs launch by launch.
  used_graph_ = false;
  graph_note_ = !o_.graph       ? "off (--no-graph)"
                : eps_fn_       ? "off (test eps function)"
                : ts.size() < 3 ? "off (under 3 steps)"
                                : "";
  std::unique_ptr<CapturedWork> graph;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i == 1 && graph_note_.empty()) {
      std::string why;
      graph = b.capture([&] { issue_step(i); }, &why);
      used_graph_ = graph != nullptr;
      graph_note_ =
          graph ? "one step captured, replayed " + std::to_string(ts.size() - 1) + " times" : "off (" + why + ")";
    }
    if (graph)
      graph->launch();
    else
      issue_step(i);
    // Reported when issued: a device runs at most a launch queue behind, and the loop never waits on it.
    if (on_step) on_step({int(i) + 1, int(ts.size()), ts[i]});
  }
  b.synchronize();
}

// Mirrors solve()'s buffers: m, v, eps, x_t, the data gradient, x0 (sigma_x0 > 0), the network output, ids
// and labels, the per-step scalar table with its current row and counter, and the timestep input.
size_t RedDiffSolver::workspace_bytes(Shape4 xs, Shape4 ys) const {
  (void)ys;
  const size_t nx = size_t(xs.numel()), n = size_t(xs.n);
  const size_t out_c = size_t(eps_fn_ ? eps_channels_ : net_.model().config.adm.out_channels);
  return nx * 4 * (5 + (o_.sigma_x0 > 0 ? 1 : 0)) + n * out_c * size_t(xs.h) * size_t(xs.w) * 4 + n * 8 + n * 4 +
         size_t(o_.steps) * sizeof(RedDiffStepScalars) + sizeof(RedDiffStepScalars) + sizeof(int32_t) + n * 4;
}

nlohmann::json to_json(const RedDiffOptions& o) {
  using json = nlohmann::json;
  return {{"algo", "reddiff"},
          {"steps", o.steps},
          {"lr", o.lr},
          {"lambda", o.lambda},
          {"weighting", o.weighting},
          {"sigma_x0", o.sigma_x0},
          {"init", o.init},
          {"seed", o.seed},
          {"class", o.class_label >= 0 ? json(o.class_label) : json(nullptr)},
          {"t_start", o.t_start >= 0 ? json(o.t_start) : json(nullptr)},
          {"t_end", o.t_end},
          {"cuda_graph", nullptr}};
}

nlohmann::json RedDiffSolver::describe() const {
  nlohmann::json j = to_json(o_);
  j["t_start"] = t_start_given_ >= 0 ? nlohmann::json(t_start_given_) : nlohmann::json(nullptr);  // null: the model's T
  j["cuda_graph"] = graph_note_;
  return j;
}

}  // namespace reddiff
