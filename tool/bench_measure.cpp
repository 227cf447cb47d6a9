// One bench configuration measured:
//   - network forward latency (median of many, Backend::make_timer), throughput (back-to-back forwards) and
//     achieved TFLOP/s against the counted FLOPs (forward_flops);
//   - RED-diff seconds per image for each of --steps, extrapolated from a few measured steps (two solves of 1
//     and 1+k steps: per-step time = difference / k, fixed cost = the rest), with the step replayed as a CUDA
//     graph and launch by launch;
//   - peak device memory: the tool's own accounting (weights + arena + backend extras + Solver::workspace_bytes
//     + x, y) and, where the backend reports it, the rise in the device's used memory;
//   - with --algo: the same per-step time, seconds per image and memory for each other method on the same task,
//     each on a backend and Network of its own (results[i]["algos"][name]).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>

#include "base/error.h"
#include "engine/device_buffer.h"
#include "engine/model_config.h"
#include "engine/network.h"
#include "solvers/factory.h"
#include "tool/bench.h"

namespace reddiff {

using json = nlohmann::json;

const char* kBenchTask = "inpaint, centred box (half the side)";

bool BenchSettings::has(Algorithm a) const { return std::find(algos.begin(), algos.end(), a) != algos.end(); }
bool BenchSettings::has_others() const {
  return std::any_of(algos.begin(), algos.end(), [](Algorithm a) { return a != Algorithm::RedDiff; });
}

const std::vector<Algorithm>& bench_algorithm_order() {
  static const std::vector<Algorithm> o = {Algorithm::RedDiff, Algorithm::Ddrm, Algorithm::Dps, Algorithm::Pigdm};
  return o;
}

MemoryProbe::MemoryProbe(Backend& b) : b_(b) {
  size_t free_b = 0, total_b = 0;
  active_ = b_.memory_info(&free_b, &total_b);
  baseline_ = total_b - free_b;
}

size_t MemoryProbe::used_delta() {
  size_t free_b = 0, total_b = 0;
  if (!active_ || !b_.memory_info(&free_b, &total_b)) return 0;
  const size_t used = total_b - free_b;
  return used > baseline_ ? used - baseline_ : 0;
}

namespace {

double seconds_since(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

struct Stats {
  double median = 0, min = 0, max = 0, p90 = 0, mean = 0;
  int n = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = int(v.size());
  s.min = v.front(), s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  s.p90 = v[std::min(v.size() - 1, size_t(std::ceil(0.9 * double(v.size()))) - 1)];
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  return s;
}

// ------------------------------------------------------------------------------------------- forward

struct ForwardInputs {
  DeviceBuffer x, t, labels, out;
  size_t bytes() const { return x.bytes() + t.bytes() + labels.bytes() + out.bytes(); }
};

ForwardInputs make_inputs(Backend& b, const AdmConfig& cfg, int n, int h, int w, uint64_t seed) {
  ForwardInputs in;
  const size_t nx = size_t(n) * cfg.in_channels * h * w;
  std::vector<float> x(nx);
  std::mt19937 rng(uint32_t(seed) + 17u);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& v : x) v = nd(rng);
  std::vector<float> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = float((500 + 37 * i) % 1000);
  in.x = DeviceBuffer(b, nx * 4);
  in.t = DeviceBuffer(b, size_t(n) * 4);
  in.labels = DeviceBuffer(b, size_t(n) * 4);
  in.out = DeviceBuffer(b, size_t(n) * cfg.out_channels * h * w * 4);
  b.upload(in.x.get(), x.data(), nx * 4);
  b.upload(in.t.get(), t.data(), t.size() * 4);
  if (cfg.num_classes > 0) {
    std::vector<int32_t> l(size_t(n), 0);
    b.upload(in.labels.get(), l.data(), l.size() * 4);
  }
  return in;
}

// Warm-up forwards, then individually timed forwards (the latency figures), then on a device with a queue
// a back-to-back run (throughput); the row's forward fields. Returns the median latency in ms.
double time_forward(const BenchSettings& st, Backend& b, const std::function<void()>& fwd, double flops, int n,
                    MemoryProbe& probe, json& row) {
  const auto tw = BenchClock::now();
  for (int i = 0; i < std::max(1, st.warmup); ++i) fwd();
  b.synchronize();
  const double warm_s = seconds_since(tw) / std::max(1, st.warmup);
  probe.sample();
  auto timer = b.make_timer();
  std::vector<double> ms;
  const auto tl = BenchClock::now();
  for (int i = 0; i < st.repeat; ++i) {
    if (i == 0 && st.profile_forward) b.profile_range(true);
    timer->start();
    fwd();
    ms.push_back(timer->stop_ms());
    if (i == 0 && st.profile_forward) b.profile_range(false);
    if (ms.size() >= 3 && seconds_since(tl) > st.max_time) break;
  }
  const Stats s = stats_of(ms);
  double pipelined_ms = s.median;
  if (b.device() == Device::CUDA) {
    const int k = std::max(3, std::min(st.repeat, int(st.max_time / std::max(1e-4, s.median * 1e-3) / 2)));
    timer->start();
    for (int i = 0; i < k; ++i) fwd();
    pipelined_ms = timer->stop_ms() / k;
    row["forward_pipelined_repeats"] = k;
  }
  probe.sample();
  row["forward_ms"] = {{"median", s.median}, {"min", s.min},   {"max", s.max},
                       {"p90", s.p90},       {"mean", s.mean}, {"n", s.n}};
  row["forward_ms_pipelined"] = pipelined_ms;
  row["first_forward_s"] = warm_s;
  row["images_per_s"] = 1e3 * n / pipelined_ms;
  row["images_per_s_latency"] = 1e3 * n / s.median;
  row["tflops"] = flops / (pipelined_ms * 1e-3) / 1e12;
  row["tflops_latency"] = flops / (s.median * 1e-3) / 1e12;
  row["flops_per_forward"] = flops;
  return s.median;
}

// ------------------------------------------------------------------------------------------- solvers

// The methods' task for n images of h x w: the operators (with the SVD view for DDRM), a random x and y = A(x).
struct BenchProblem {
  Problem problem;
  std::vector<uint64_t> ids;
  DeviceBuffer x, y;
  size_t operator_measured = 0;  // the rise in device memory while the operators were made
};

BenchProblem bench_problem(Backend& b, const AdmConfig& cfg, int n, int h, int w, bool with_svd, uint64_t seed,
                           MemoryProbe& probe) {
  BenchProblem p;
  OperatorOptions o;
  o.task = "inpaint";
  o.mask = "box";
  validate_operator_options(o);
  const Shape4 xs{n, cfg.in_channels, h, w};
  for (int i = 0; i < n; ++i) p.ids.push_back(uint64_t(i));
  const size_t before = probe.used_delta();
  p.problem = make_problem(o, xs, p.ids, b, with_svd);
  const size_t after = probe.used_delta();
  p.operator_measured = after > before ? after - before : 0;
  p.x = DeviceBuffer(b, size_t(xs.numel()) * 4);
  p.y = DeviceBuffer(b, size_t(p.problem.y_shape().numel()) * 4);
  std::vector<float> hx(size_t(xs.numel()));
  std::mt19937 rng(uint32_t(seed) + 5u);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  for (auto& v : hx) v = ud(rng);
  b.upload(p.x.get(), hx.data(), hx.size() * 4);
  p.problem.op->apply(p.x.as<float>(), p.y.as<float>(), b.stream());
  b.synchronize();
  return p;
}

// The device bytes of the operators' own data: inpainting keeps a per-pixel mask [n, 1, h, w]; its SVD view
// (DDRM) one singular value per coordinate [n, c, h, w] beside it.
size_t operator_estimate(const BenchProblem& p) {
  const Shape4 xs = p.problem.x_shape();
  return size_t(xs.n) * xs.h * xs.w * 4 + (p.problem.svd ? size_t(xs.numel()) * 4 : 0);
}

// Steps measured beyond the first: --solver-steps, fewer when a step is slow, so that a solve stays near
// --max-time.
int measured_steps(const BenchSettings& st, double step_ms_estimate) {
  const int k_time = int(std::floor(st.max_time / std::max(1e-6, step_ms_estimate * 1e-3)));
  return std::max(1, std::min(st.solver_steps, std::max(2, k_time)));
}

// Per-step time by the difference of a 1-step and a (1+k)-step solve; the fixed cost is the rest. `solve(steps)`
// returns seconds. The fields every method's entry has; s/img for each of default_steps.
json time_steps(const std::function<double(int)>& solve, int k, int n, const std::vector<int>& default_steps) {
  const double t1 = solve(1), tk = solve(1 + k);
  double per_step = (tk - t1) / k;
  json a;
  if (!(per_step > 0)) {
    per_step = tk / (1 + k);
    a["note"] = "per-step time from the longer solve only (the difference was not positive)";
  }
  const double fixed = std::max(0.0, t1 - per_step);
  a["task"] = kBenchTask;
  a["measured_steps"] = k;
  a["solve_1_step_s"] = t1;
  a["solve_" + std::to_string(1 + k) + "_steps_s"] = tk;
  a["step_ms"] = per_step * 1e3;
  a["step_ms_per_image"] = per_step * 1e3 / n;
  a["fixed_s"] = fixed;
  json spi;
  for (int N : default_steps) spi[std::to_string(N)] = (fixed + N * per_step) / n;
  a["s_per_image"] = spi;
  a["extrapolated"] = true;
  return a;
}

// The settings the bench runs a method with: the solver's defaults, `steps` steps, the bench's seed, class 0 for
// a class-conditional model.
SolverSettings method_settings(const BenchSettings& st, const AdmConfig& cfg, int steps, bool graph = true) {
  SolverSettings s;
  s.set_steps(steps);
  s.set_seed(st.seed);
  if (cfg.num_classes > 0) s.set_class_label(0);
  s.reddiff.graph = graph;
  return s;
}

// A solve of `steps` steps by a fresh solver of `a` (plan and scratch from earlier solves are kept), in seconds.
double solve_once(Algorithm a, const SolverSettings& s, Network& net, BenchProblem& p, const StepCallback& on_step,
                  std::string* graph_note = nullptr) {
  Backend& b = net.backend();
  auto solver = make_solver(a, s, net);
  b.synchronize();
  const auto t0 = BenchClock::now();
  solver->solve(p.problem, p.y.as<float>(), p.x.as<float>(), p.ids, on_step);
  b.synchronize();
  const double sec = seconds_since(t0);
  if (graph_note && a == Algorithm::RedDiff) *graph_note = solver->describe()["cuda_graph"].get<std::string>();
  return sec;
}

// The other methods' default step counts (the s/img figures): their solvers' own; RED-diff's are --steps.
std::vector<int> default_steps_of(Algorithm a, const BenchSettings& st) {
  return a == Algorithm::RedDiff ? st.steps : std::vector<int>{SolverSettings().steps(a)};
}

// RED-diff on the row's network (its forward plan shared with the forward timing): the row's "reddiff" entry,
// its solver memory, and with other methods its "algos" entry.
// forward_bytes: what stays of the forward's memory (the network and its inputs but x).
void time_reddiff(const BenchSettings& st, Network& net, int n, int h, int w, double forward_ms, size_t weights,
                  size_t forward_bytes, MemoryProbe& probe, json& row, json& mem, size_t& tool_total) {
  Backend& b = net.backend();
  const AdmConfig& cfg = net.model().config.adm;
  const Network::Compiled& c = net.compile(n, h, w);
  BenchProblem p = bench_problem(b, cfg, n, h, w, false, st.seed, probe);
  const int k = measured_steps(st, forward_ms);
  // Warm-up (first allocations), memory sampled while the solver's buffers live; the peak of this solve alone
  // is also kept for results[i]["algos"]["reddiff"].
  const size_t row_peak = probe.peak();
  probe.reset();
  solve_once(Algorithm::RedDiff, method_settings(st, cfg, 1, false), net, p,
             [&](const SolverStep&) { probe.sample(); });
  const size_t reddiff_peak = probe.peak();
  probe.set_peak(std::max(row_peak, reddiff_peak));
  // The step replayed as a CUDA graph (the default; its one-off capture is in the measured difference) and
  // launch by launch.
  std::string graph_note;
  json rd = time_steps(
      [&](int steps) {
        return solve_once(Algorithm::RedDiff, method_settings(st, cfg, steps, steps > 1), net, p, nullptr,
                          steps > 2 ? &graph_note : nullptr);
      },
      k, n, st.steps);
  const double tk_eager = b.device() == Device::CUDA
                              ? solve_once(Algorithm::RedDiff, method_settings(st, cfg, 1 + k, false), net, p, nullptr)
                              : rd["solve_" + std::to_string(1 + k) + "_steps_s"].get<double>();
  rd["step_ms_launch_by_launch"] = (tk_eager - rd["solve_1_step_s"].get<double>()) / k * 1e3;
  rd["cuda_graph"] = graph_note.empty() ? "off" : graph_note;
  row["reddiff"] = rd;

  const size_t workspace = make_solver(Algorithm::RedDiff, method_settings(st, cfg, st.steps.front()), net)
                               ->workspace_bytes(p.problem.x_shape(), p.problem.y_shape());
  const size_t x_y = p.x.bytes() + p.y.bytes();
  mem["solver"] = workspace + x_y;
  if (probe.active()) mem["operator_measured"] = p.operator_measured;
  const size_t tool_solve = forward_bytes + workspace + x_y;
  tool_total = std::max(tool_total, tool_solve);
  probe.sample();
  if (!st.has_others()) return;
  json a;
  for (const char* key :
       {"task", "measured_steps", "step_ms", "step_ms_per_image", "fixed_s", "s_per_image", "cuda_graph"})
    a[key] = rd[key];
  if (rd.contains("note")) a["note"] = rd["note"];
  a["network_passes_per_step"] = "forward";
  a["default_steps"] = st.steps;
  a["extrapolated"] = true;
  json am;
  am["weights"] = weights;
  am["forward_plan"] = c.plan.arena_bytes + c.backend_extra_bytes;
  am["solver"] = workspace;
  am["operator_estimate"] = operator_estimate(p);
  am["x_y"] = x_y;
  am["tool_total"] = tool_solve + operator_estimate(p);
  if (probe.active()) {
    am["operator_measured"] = p.operator_measured;
    am["cuda_used_delta_peak"] = reddiff_peak;
  }
  a["memory_bytes"] = am;
  a["status"] = "ok";
  row["algos"]["reddiff"] = a;
}

// One other method on a backend and Network of its own (so that its workspaces and measured peak are its own):
// per-step time, seconds per image for its default step count, and memory (the tool's accounting: weights + the
// network's plan for this method + the solver's workspace + operator + x, y; where the backend reports device
// memory, the peak rise sampled after every step of a warm-up solve).
json run_method(const BenchSettings& st, const Model& model, DType prec, int n, int h, int w, Algorithm algo,
                double forward_ms, MemoryProbe& probe) {
  const AdmConfig& cfg = model.config.adm;
  const bool guided = algorithm_info(algo).guided;
  auto backend = st.model.make_backend();
  Backend& b = *backend;
  const bool cuda = b.device() == Device::CUDA;
  Network net(model, b, prec);
  BenchProblem p = bench_problem(b, cfg, n, h, w, algorithm_info(algo).needs_svd, st.seed, probe);
  size_t peak = 0;
  auto sample = [&]() { peak = std::max(peak, probe.used_delta()); };
  // Warm-up: compiles the plan and sizes every scratch buffer; memory sampled at each step.
  solve_once(algo, method_settings(st, cfg, 1), net, p, [&](const SolverStep&) { sample(); });
  sample();
  const std::vector<int> dsteps = default_steps_of(algo, st);
  // A guided step costs about three forwards.
  json a = time_steps([&](int steps) { return solve_once(algo, method_settings(st, cfg, steps), net, p, nullptr); },
                      measured_steps(st, forward_ms * (guided ? 3.0 : 1.0)), n, dsteps);
  a["network_passes_per_step"] = guided ? "forward_for_vjp + vjp" : "forward";
  a["default_steps"] = dsteps;

  const size_t weights = cuda ? b.weight_bytes() : size_t(model.weights.parameter_count()) * 4;
  const size_t net_bytes = cuda ? net.device_bytes() : net.device_bytes() + weights;
  const size_t plan_bytes = guided ? net.vjp_device_bytes(n, h, w) : [&] {
    const Network::Compiled& c = net.compile(n, h, w);
    return c.plan.arena_bytes + c.backend_extra_bytes;
  }();
  const size_t workspace = make_solver(algo, method_settings(st, cfg, dsteps.front()), net)
                               ->workspace_bytes(p.problem.x_shape(), p.problem.y_shape());
  const size_t x_y = p.x.bytes() + p.y.bytes();
  json mem;
  mem["weights"] = weights;
  mem[guided ? "vjp_plan" : "forward_plan"] = plan_bytes;
  mem["solver"] = workspace;
  mem["operator_estimate"] = operator_estimate(p);
  mem["x_y"] = x_y;
  mem["tool_total"] = net_bytes + workspace + operator_estimate(p) + x_y;
  if (probe.active()) {
    mem["operator_measured"] = p.operator_measured;
    mem["cuda_used_delta_peak"] = peak;
  }
  a["memory_bytes"] = mem;
  a["status"] = "ok";
  return a;
}

// The other methods, once the row's backend and buffers are gone.
void run_methods(const BenchSettings& st, const Model& model, DType prec, int n, int h, int w, double forward_ms,
                 MemoryProbe& probe, BenchClock::time_point t_start, json& row) {
  for (Algorithm algo : st.algos) {
    const std::string& name = algorithm_info(algo).name;
    if (algo == Algorithm::RedDiff) {
      if (!row.contains("algos") || !row["algos"].contains(name))
        row["algos"][name] = {{"status", "skipped"}, {"note", row.value("reddiff_note", std::string("not measured"))}};
      continue;
    }
    if (st.budget_s > 0 && seconds_since(t_start) > st.budget_s) {
      row["algos"][name] = {{"status", "skipped"}, {"note", "time budget spent"}};
      continue;
    }
    try {
      row["algos"][name] = run_method(st, model, prec, n, h, w, algo, forward_ms, probe);
    } catch (const Error& e) {
      row["algos"][name] = {{"status", "error"}, {"note", e.what()}};
    } catch (const std::bad_alloc&) {
      row["algos"][name] = {{"status", "error"}, {"note", "out of host memory"}};
    }
    std::fprintf(stderr, "bench: %s batch %d, %s: %s\n", dtype_name(prec), n, name.c_str(),
                 row["algos"][name]["status"].get<std::string>().c_str());
  }
}

}  // namespace

json run_config(const BenchSettings& st, const Model& model, DType prec, int n, int h, int w, MemoryProbe& probe,
                BenchClock::time_point t_start) {
  const AdmConfig& cfg = model.config.adm;
  json row;
  row["precision"] = dtype_name(prec);
  row["batch"] = n;
  row["size"] = {h, w};
  probe.reset();
  auto backend = st.model.make_backend();
  if (!backend->supports(prec)) {
    row["status"] = "skipped";
    row["note"] = std::string(dtype_name(prec)) + " is not supported by " + backend->name();
    return row;
  }
  row["backend"] = backend->name();
  const bool cuda = backend->device() == Device::CUDA;
  auto net = std::make_unique<Network>(model, *backend, prec);
  const Network::Compiled& c = net->compile(n, h, w);
  ForwardInputs in = make_inputs(*backend, cfg, n, h, w, st.seed);
  const int32_t* labels = cfg.num_classes > 0 ? in.labels.as<int32_t>() : nullptr;
  const double forward_ms = time_forward(
      st, *backend, [&] { net->forward(in.x.as<float>(), in.t.as<float>(), labels, in.out.as<float>(), n, h, w); },
      forward_flops(cfg, h, w) * n, n, probe, row);
  if (st.op_times) {  // after the timed loop, so that its syncs do not touch the figures above
    Network::OpTimes times;
    net->set_op_times(&times);
    const int k = std::max(1, std::min(st.repeat, 5));
    for (int i = 0; i < k; ++i) net->forward(in.x.as<float>(), in.t.as<float>(), labels, in.out.as<float>(), n, h, w);
    net->set_op_times(nullptr);
    json ops = json::object();
    for (const auto& kv : times.seconds)
      ops[kv.first] = {{"ms", 1e3 * kv.second / k}, {"ops", times.ops[kv.first] / k}};
    row["op_ms"] = ops;
    row["op_ms_forwards"] = k;
  }

  const size_t weights = cuda ? backend->weight_bytes() : size_t(model.weights.parameter_count()) * 4;
  json mem;
  mem["weights"] = weights;
  mem["weights_note"] = cuda ? "device copies for this precision" : "host f32 parameters";
  mem["arena"] = c.plan.arena_bytes;
  mem["backend_extra"] = c.backend_extra_bytes;
  mem["forward_io"] = in.bytes();
  const size_t net_bytes = cuda ? net->device_bytes() : net->device_bytes() + weights;
  size_t tool_total = net_bytes + in.bytes();

  // RED-diff: inpainting with a centred box (the operator's cost is small next to the network's).
  if (st.solver_steps > 0 && st.has(Algorithm::RedDiff)) {
    if (st.budget_s > 0 && seconds_since(t_start) > st.budget_s) {
      row["reddiff_note"] = "solver not timed: time budget spent";
    } else {
      try {
        in.x.reset();  // the forward's input is not needed by the solver
        const size_t kept = net_bytes + in.t.bytes() + in.labels.bytes() + in.out.bytes();
        time_reddiff(st, *net, n, h, w, forward_ms, weights, kept, probe, row, mem, tool_total);
      } catch (const Error& e) {  // keep the forward figures; say why the solver has none
        row["reddiff_note"] = std::string("solver not timed: ") + e.what();
      }
    }
  }
  mem["tool_total"] = tool_total;
  if (probe.active()) mem["cuda_used_delta_peak"] = probe.peak();
  row["memory_bytes"] = mem;

  if (st.solver_steps > 0 && st.has_others()) {
    in = ForwardInputs();
    net.reset();
    backend.reset();
    run_methods(st, model, prec, n, h, w, forward_ms, probe, t_start, row);
  }
  row["status"] = "ok";
  return row;
}

}  // namespace reddiff
