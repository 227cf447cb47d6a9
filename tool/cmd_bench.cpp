// reddiff bench: how fast and how big. For a model file or a named architecture with random weights it
// measures, per precision and batch size:
//   - network forward latency (median of many; CUDA events on the backend's stream, steady_clock on the
//     CPU), throughput (images/s) and achieved TFLOP/s against the counted FLOPs (forward_flops);
//   - RED-diff seconds per image for 100 and 1000 steps, extrapolated from a few measured steps
//     (two solves of 1 and 1+K steps: per-step time = difference / K, fixed cost = the rest);
//   - peak device memory: the tool's own accounting (weights + arena + backend extras + solver buffers)
//     and, on CUDA, the used-memory delta cudaMemGetInfo reports;
//   - with --algo dps|pigdm|ddrm|all: the same per-step time, seconds per image and peak memory for each
//     method on the same restoration task (inpaint, centred box), each on a Network of its own
//     (results[i]["algos"][name]).
// Prints a table and writes JSON (docs/benchmarks.md describes the method and the fields).
#include <cxxopts.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/cpu/cpu_info.h"
#include "engine/device_buffer.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "engine/network.h"
#include "operators/operator.h"
#include "operators/svd.h"
#include "solvers/ddrm_solver.h"
#include "solvers/dps_solver.h"
#include "solvers/pigdm_solver.h"
#include "solvers/reddiff_solver.h"
#include "tool/cli_common.h"
#include "tool/command.h"

#ifdef REDDIFF_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace reddiff {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  return out;
}

std::vector<int> int_list(const std::string& s, const char* opt, int lo, int hi) {
  std::vector<int> v;
  for (const auto& x : split_list(s)) {
    char* end = nullptr;
    long k = std::strtol(x.c_str(), &end, 10);
    if (!end || *end || k < lo || k > hi)
      throw Error(std::string("--") + opt + ": '" + x + "' is not an integer in [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
    v.push_back(int(k));
  }
  if (v.empty()) throw Error(std::string("--") + opt + " is empty");
  return v;
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

// ------------------------------------------------------------------------------------------- timing
// Times work queued on a backend: CUDA events on its stream (GPU time between the two marks, host
// launch gaps included), steady_clock after a synchronize on the CPU.
class Timer {
 public:
  explicit Timer(Backend& b) : b_(b) {
#ifdef REDDIFF_HAVE_CUDA
    if (b_.device() == Device::CUDA) {
      cuda_check(cudaEventCreate(&e0_), "cudaEventCreate");
      cuda_check(cudaEventCreate(&e1_), "cudaEventCreate");
    }
#endif
  }
  ~Timer() {
#ifdef REDDIFF_HAVE_CUDA
    if (e0_) cudaEventDestroy(e0_);
    if (e1_) cudaEventDestroy(e1_);
#endif
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start() {
#ifdef REDDIFF_HAVE_CUDA
    if (e0_) {
      cuda_check(cudaEventRecord(e0_, static_cast<cudaStream_t>(b_.stream())), "cudaEventRecord");
      return;
    }
#endif
    b_.synchronize();
    t0_ = Clock::now();
  }
  double stop_ms() {
#ifdef REDDIFF_HAVE_CUDA
    if (e1_) {
      cuda_check(cudaEventRecord(e1_, static_cast<cudaStream_t>(b_.stream())), "cudaEventRecord");
      cuda_check(cudaEventSynchronize(e1_), "cudaEventSynchronize");
      float ms = 0;
      cuda_check(cudaEventElapsedTime(&ms, e0_, e1_), "cudaEventElapsedTime");
      return double(ms);
    }
#endif
    b_.synchronize();
    return 1e3 * seconds_since(t0_);
  }

 private:
#ifdef REDDIFF_HAVE_CUDA
  static void cuda_check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw Error(std::string("bench: ") + what + ": " + cudaGetErrorString(e), 1);
  }
  cudaEvent_t e0_ = nullptr, e1_ = nullptr;
#endif
  Backend& b_;
  Clock::time_point t0_;
};

// ------------------------------------------------------------------------------------------- memory
// Device memory in use as cudaMemGetInfo reports it (all processes on the device), relative to a
// baseline taken once, after the CUDA context exists and before any model memory is allocated.
struct CudaMemProbe {
  bool active = false;
  size_t baseline = 0, peak = 0, total = 0;
  static size_t used(size_t* total_out = nullptr) {
#ifdef REDDIFF_HAVE_CUDA
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    if (total_out) *total_out = t;
    return t - f;
#else
    (void)total_out;
    return 0;
#endif
  }
  void init() {
#ifdef REDDIFF_HAVE_CUDA
    cudaSetDevice(0);
    cudaFree(nullptr);  // creates the context
    active = true;
    baseline = used(&total);
#endif
  }
  void reset() { peak = 0; }
  void sample() {
    if (!active) return;
    size_t u = used();
    if (u > baseline) peak = std::max(peak, u - baseline);
  }
};

// ------------------------------------------------------------------------------------------- options
struct Settings {
  std::string device;  // resolved: "cpu" or "cuda"
  int threads = 0;
  int repeat = 30, warmup = 3;
  double max_time = 3.0;  // seconds per timed loop (at least 3 samples)
  int solver_steps = 10;  // measured RED-diff steps (0: no solver timing)
  std::vector<int> steps{100, 1000};
  double budget_s = 0;    // 0: none
  uint64_t seed = 0;
  std::vector<std::string> algos{"reddiff"};  // in the order they run: reddiff first, then ddrm, dps, pigdm
  bool profile_forward = false;  // the first timed forward inside Backend::profile_range
  bool has(const std::string& a) const { return std::find(algos.begin(), algos.end(), a) != algos.end(); }
};

// The methods --algo knows, their default step counts (the s/img figures) and the task they all run.
const std::vector<std::string> kAlgoOrder{"reddiff", "ddrm", "dps", "pigdm"};
std::vector<int> default_steps_of(const std::string& algo, const std::vector<int>& reddiff_steps) {
  if (algo == "dps") return {1000};
  if (algo == "pigdm") return {100};
  if (algo == "ddrm") return {20};
  return reddiff_steps;
}
const char* kAlgoTask = "inpaint, centred box (half the side)";

// That task for n images of h x w: the operator options, the images' shape and their ids (0 .. n-1).
struct BenchTask {
  OperatorOptions oo;
  Shape4 xs;
  std::vector<uint64_t> ids;
};
BenchTask bench_task(const AdmConfig& cfg, int n, int h, int w) {
  BenchTask t;
  t.oo.task = "inpaint";
  t.oo.mask = "box";
  validate_operator_options(t.oo);
  t.xs = Shape4{n, cfg.in_channels, h, w};
  for (int i = 0; i < n; ++i) t.ids.push_back(uint64_t(i));
  return t;
}


struct Model_ {
  std::unique_ptr<Model> model;
  std::string source, name;
};

Model_ load_bench_model(const cxxopts::ParseResult& r, uint64_t seed) {
  Model_ m;
  if (r.count("model") && r.count("arch")) throw Error("give --model or --arch, not both");
  if (r.count("model")) {
    m.model = Model::load(r["model"].as<std::string>());
    m.source = "file";
    m.name = r["model"].as<std::string>();
    return m;
  }
  std::string arch = r.count("arch") ? r["arch"].as<std::string>() : "bundled";
  if (arch == "bundled") {
    std::string p = default_model_path();
    std::ifstream probe(p, std::ios::binary);
    if (!probe) throw Error("--arch bundled: the bundled model " + p + " is missing (give --model FILE or --arch NAME)");
    m.model = Model::load(p);
    m.source = "bundled";
    m.name = p;
    return m;
  }
  ModelConfig cfg;
  if (!named_architecture(arch, &cfg)) {
    std::string names;
    for (const auto& n : named_architectures()) names += n + ", ";
    throw Error("--arch must be bundled or one of " + names.substr(0, names.size() - 2) + " (got '" + arch + "')");
  }
  m.model = Model::random(cfg, seed);
  m.source = "random";
  m.name = arch;
  return m;
}

// ------------------------------------------------------------------------------------------- one run
struct Inputs {
  DeviceBuffer x, t, labels, out;
};

Inputs make_inputs(Backend& b, const AdmConfig& cfg, int n, int h, int w, uint64_t seed) {
  Inputs in;
  size_t nx = size_t(n) * cfg.in_channels * h * w;
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

// Bytes the RED-diff solver allocates for a batch (mirrors RedDiffSolver::solve's DeviceBuffers: m, v,
// eps, x_t, data gradient, [x0 when sigma_x0 > 0], the network output, ids, t, labels).
size_t solver_buffer_bytes(const AdmConfig& cfg, int n, int h, int w, double sigma_x0) {
  size_t nx = size_t(n) * cfg.in_channels * h * w;
  return nx * 4 * (5 + (sigma_x0 > 0 ? 1 : 0)) + size_t(n) * cfg.out_channels * h * w * 4 + size_t(n) * (8 + 4 + 4);
}

// ------------------------------------------------------------------------------------------- methods
// Device bytes a solver allocates for a batch besides the network, its input/output x and y (mirrors the
// DeviceBuffers of DpsSolver / PigdmSolver / DdrmSolver::solve and their timestep tables for `steps`).
size_t method_buffer_bytes(const std::string& algo, const AdmConfig& cfg, int n, int h, int w, size_t y_bytes, int steps) {
  const size_t nx = size_t(n) * cfg.in_channels * h * w * 4, nout = size_t(n) * cfg.out_channels * h * w * 4;
  const size_t ids = size_t(n) * 8, labels = size_t(n) * 4, tsteps = size_t(steps) * n * 4;
  if (algo == "dps") return 3 * nx + y_bytes + 2 * nout + size_t(n) * 16 + ids + tsteps + labels;
  if (algo == "pigdm") return 4 * nx + y_bytes + 2 * nout + size_t(n) * 16 + ids + tsteps + labels;
  if (algo == "ddrm") return 5 * nx + nout + ids + labels + tsteps;
  throw Error("bench: no buffer accounting for " + algo, 1);
}

// One method (dps, pigdm, ddrm) on a backend and Network of its own (so its workspaces are its own):
// per-step time by the difference of a 1-step and a (1+k)-step solve, seconds per image for its default
// step count, and peak device memory
// (the tool's accounting: weights + the network's plan for this method + solver buffers + operator + x, y;
// on CUDA the cudaMemGetInfo used-delta peak, sampled after every step of a warm-up solve).
json run_method(const Settings& st, const Model& model, DType prec, int n, int h, int w, const std::string& algo,
                double forward_ms, CudaMemProbe& probe) {
  const AdmConfig& cfg = model.config.adm;
  auto backend = make_backend(st.device, st.threads);
  Backend& b = *backend;
  const bool cuda = b.device() == Device::CUDA;
  size_t peak = 0;
  auto sample = [&]() {
    if (!probe.active) return;
    size_t u = CudaMemProbe::used();
    if (u > probe.baseline) peak = std::max(peak, u - probe.baseline);
  };
  Network net(model, b, prec);
  const BenchTask task = bench_task(cfg, n, h, w);
  const Shape4& xs = task.xs;
  const std::vector<uint64_t>& ids = task.ids;
  const OperatorOptions& oo = task.oo;
  size_t before_op = CudaMemProbe::used();
  std::unique_ptr<Operator> A = make_operator(oo, xs, ids, b);
  std::unique_ptr<SvdOperator> S;
  if (algo == "ddrm") S = make_svd_operator(oo, xs, ids, b);
  size_t after_op = CudaMemProbe::used();
  Shape4 ys = A->measurement_shape();
  DeviceBuffer x(b, size_t(xs.numel()) * 4), y(b, size_t(ys.numel()) * 4);
  {
    std::vector<float> hx(size_t(xs.numel()));
    std::mt19937 rng(uint32_t(st.seed) + 5u);
    std::uniform_real_distribution<float> ud(-1.f, 1.f);
    for (auto& v : hx) v = ud(rng);
    b.upload(x.get(), hx.data(), hx.size() * 4);
    A->apply(x.as<float>(), y.as<float>(), b.stream());
    b.synchronize();
  }
  const int label = cfg.num_classes > 0 ? 0 : -1;
  auto solve = [&](int steps, bool sample_memory) {
    std::function<void(const SolverStep&)> cb;
    if (sample_memory) cb = [&](const SolverStep&) { sample(); };
    b.synchronize();
    auto t0 = Clock::now();
    if (algo == "dps") {
      DpsOptions o;
      o.steps = steps, o.seed = st.seed, o.class_label = label;
      DpsSolver(net, o).solve(*A, y.as<float>(), x.as<float>(), ids, cb);
    } else if (algo == "pigdm") {
      PigdmOptions o;
      o.steps = steps, o.seed = st.seed, o.class_label = label;
      PigdmSolver(net, o).solve(*A, y.as<float>(), x.as<float>(), ids, cb);
    } else {
      DdrmOptions o;
      o.steps = steps, o.seed = st.seed, o.class_label = label;
      DdrmSolver(net, o).solve(*S, y.as<float>(), x.as<float>(), ids, cb);
    }
    b.synchronize();
    return seconds_since(t0);
  };
  const bool guided = algo == "dps" || algo == "pigdm";
  // Keep the measurement near max_time: a guided step costs about three forwards.
  int k = st.solver_steps;
  const double est_step_ms = forward_ms * (guided ? 3.0 : 1.0);
  int k_time = int(std::floor(st.max_time / std::max(1e-6, est_step_ms * 1e-3)));
  k = std::max(1, std::min(k, std::max(2, k_time)));
  solve(1, true);  // warm-up: compiles the plan, sizes every scratch buffer; memory sampled at each step
  sample();
  double t1 = solve(1, false);
  double tk = solve(1 + k, false);
  double per_step = (tk - t1) / k;
  bool fallback = false;
  if (!(per_step > 0)) per_step = tk / (1 + k), fallback = true;
  double fixed = std::max(0.0, t1 - per_step);

  json a;
  a["task"] = kAlgoTask;
  a["measured_steps"] = k;
  a["solve_1_step_s"] = t1;
  a["solve_" + std::to_string(1 + k) + "_steps_s"] = tk;
  a["step_ms"] = per_step * 1e3;
  a["step_ms_per_image"] = per_step * 1e3 / n;
  a["fixed_s"] = fixed;
  a["network_passes_per_step"] = guided ? "forward_for_vjp + vjp" : "forward";
  if (fallback) a["note"] = "per-step time from the longer solve only (the difference was not positive)";
  std::vector<int> dsteps = default_steps_of(algo, st.steps);
  a["default_steps"] = dsteps;
  json spi;
  for (int N : dsteps) spi[std::to_string(N)] = (fixed + N * per_step) / n;
  a["s_per_image"] = spi;
  a["extrapolated"] = true;

  const size_t weights = cuda ? b.weight_bytes() : size_t(model.weights.parameter_count()) * 4;
  const size_t net_bytes = cuda ? net.device_bytes() : net.device_bytes() + weights;
  const size_t plan_bytes = guided ? net.vjp_device_bytes(n, h, w) : [&] {
    const Network::Compiled& c = net.compile(n, h, w);
    return c.plan.arena_bytes + c.backend_extra_bytes;
  }();
  const size_t solver_b = method_buffer_bytes(algo, cfg, n, h, w, y.bytes(), dsteps.front());
  // The operator's device data: inpaint keeps a per-pixel mask [n, 1, h, w]; its SVD view (DDRM) one
  // singular value per coordinate [n, c, h, w] beside it.
  const size_t op_b = size_t(n) * h * w * 4 + (S ? size_t(xs.numel()) * 4 : 0);
  json mem;
  mem["weights"] = weights;
  mem[guided ? "vjp_plan" : "forward_plan"] = plan_bytes;
  mem["solver"] = solver_b;
  mem["operator_estimate"] = op_b;
  mem["x_y"] = x.bytes() + y.bytes();
  mem["tool_total"] = net_bytes + solver_b + op_b + x.bytes() + y.bytes();
  if (probe.active) {
    mem["operator_measured"] = after_op > before_op ? after_op - before_op : 0;
    mem["cuda_used_delta_peak"] = peak;
  }
  a["memory_bytes"] = mem;
  a["status"] = "ok";
  return a;
}

json run_config(const Settings& st, const Model& model, DType prec, int n, int h, int w, CudaMemProbe& probe,
                Clock::time_point t_start) {
  const AdmConfig& cfg = model.config.adm;
  json row;
  row["precision"] = dtype_name(prec);
  row["batch"] = n;
  row["size"] = {h, w};
  probe.reset();
  auto backend = make_backend(st.device, st.threads);
  if (!backend->supports(prec)) {
    row["status"] = "skipped";
    row["note"] = std::string(dtype_name(prec)) + " is not supported by " + backend->name();
    return row;
  }
  row["backend"] = backend->name();
  auto net_owner = std::make_unique<Network>(model, *backend, prec);
  Network& net = *net_owner;
  const Network::Compiled& c = net.compile(n, h, w);
  Inputs in = make_inputs(*backend, cfg, n, h, w, st.seed);
  const int32_t* labels = cfg.num_classes > 0 ? in.labels.as<int32_t>() : nullptr;
  auto fwd = [&]() { net.forward(in.x.as<float>(), in.t.as<float>(), labels, in.out.as<float>(), n, h, w); };

  // Forward: warm-up, then individually timed forwards (median), then a back-to-back run (throughput).
  Timer timer(*backend);
  auto tw = Clock::now();
  for (int i = 0; i < std::max(1, st.warmup); ++i) fwd();
  backend->synchronize();
  double warm_s = seconds_since(tw) / std::max(1, st.warmup);
  probe.sample();
  std::vector<double> ms;
  auto tl = Clock::now();
  for (int i = 0; i < st.repeat; ++i) {
    if (i == 0 && st.profile_forward) backend->profile_range(true);
    timer.start();
    fwd();
    ms.push_back(timer.stop_ms());
    if (i == 0 && st.profile_forward) backend->profile_range(false);
    if (ms.size() >= 3 && seconds_since(tl) > st.max_time) break;
  }
  Stats s = stats_of(ms);
  double pipelined_ms = s.median;
  if (backend->device() == Device::CUDA) {
    int k = std::max(3, std::min(st.repeat, int(st.max_time / std::max(1e-4, s.median * 1e-3) / 2)));
    timer.start();
    for (int i = 0; i < k; ++i) fwd();
    pipelined_ms = timer.stop_ms() / k;
    row["forward_pipelined_repeats"] = k;
  }
  probe.sample();
  double flops = forward_flops(cfg, h, w) * n;
  row["forward_ms"] = {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"p90", s.p90}, {"mean", s.mean}, {"n", s.n}};
  row["forward_ms_pipelined"] = pipelined_ms;
  row["first_forward_s"] = warm_s;
  row["images_per_s"] = 1e3 * n / pipelined_ms;
  row["images_per_s_latency"] = 1e3 * n / s.median;
  row["tflops"] = flops / (pipelined_ms * 1e-3) / 1e12;
  row["tflops_latency"] = flops / (s.median * 1e-3) / 1e12;
  row["flops_per_forward"] = flops;

  size_t weights = backend->device() == Device::CUDA ? backend->weight_bytes()
                                                       : size_t(model.weights.parameter_count()) * 4;
  size_t io_fwd = in.x.bytes() + in.t.bytes() + in.labels.bytes() + in.out.bytes();
  json mem;
  mem["weights"] = weights;
  mem["weights_note"] = backend->device() == Device::CUDA ? "device copies for this precision" : "host f32 parameters";
  mem["arena"] = c.plan.arena_bytes;
  mem["backend_extra"] = c.backend_extra_bytes;
  mem["forward_io"] = io_fwd;
  size_t tool_total = (backend->device() == Device::CUDA ? net.device_bytes() : net.device_bytes() + weights) + io_fwd;

  // RED-diff: inpainting with a centred box (the operator's cost is small next to the network's).
  if (st.solver_steps > 0 && st.has("reddiff")) {
    bool over = st.budget_s > 0 && seconds_since(t_start) > st.budget_s;
    if (over) {
      row["reddiff_note"] = "solver not timed: time budget spent";
    } else {
      try {
        in.x.reset();  // the forward's input is not needed by the solver
        const BenchTask task = bench_task(cfg, n, h, w);
        const Shape4& xs = task.xs;
        const std::vector<uint64_t>& ids = task.ids;
        const OperatorOptions& oo = task.oo;
        size_t before_op = CudaMemProbe::used();
        auto A = make_operator(oo, xs, ids, *backend);
        size_t after_op = CudaMemProbe::used();
        size_t op_bytes = probe.active && after_op > before_op ? after_op - before_op : 0;
        Shape4 ys = A->measurement_shape();
        DeviceBuffer mu(*backend, size_t(xs.numel()) * 4), y(*backend, size_t(ys.numel()) * 4), x0(*backend, size_t(xs.numel()) * 4);
        {
          std::vector<float> hx(size_t(xs.numel()));
          std::mt19937 rng(uint32_t(st.seed) + 5u);
          std::uniform_real_distribution<float> ud(-1.f, 1.f);
          for (auto& v : hx) v = ud(rng);
          backend->upload(x0.get(), hx.data(), hx.size() * 4);
          A->apply(x0.as<float>(), y.as<float>(), backend->stream());
          backend->synchronize();
        }
        x0.reset();
        RedDiffOptions ro;
        ro.seed = st.seed;
        if (cfg.num_classes > 0) ro.class_label = 0;
        std::string graph_note;
        auto solve = [&](int steps, bool sample_memory, bool graph) {
          ro.steps = steps;
          ro.graph = graph;
          RedDiffSolver solver(net, ro);
          auto t0 = Clock::now();
          if (sample_memory)
            solver.solve(*A, y.as<float>(), mu.as<float>(), ids, [&](const SolverStep&) { probe.sample(); });
          else
            solver.solve(*A, y.as<float>(), mu.as<float>(), ids);
          backend->synchronize();
          if (steps > 2 && graph) graph_note = solver.graph_note();
          return seconds_since(t0);
        };
        int k = st.solver_steps;
        // Keep the solver measurement near max_time: fewer measured steps for slow networks.
        int k_time = int(std::floor(st.max_time / std::max(1e-6, s.median * 1e-3)));
        k = std::min(k, std::max(2, k_time));
        // warm-up (first allocations), memory sampled while the solver's buffers live; the peak of this
        // solve alone is also kept for results[i]["algos"]["reddiff"]
        size_t row_peak = probe.peak;
        probe.reset();
        solve(1, true, false);
        size_t reddiff_peak = probe.peak;
        probe.peak = std::max(row_peak, reddiff_peak);
        double t1 = solve(1, false, false);
        // The step time with the step replayed as a CUDA graph (the default) and launch by launch; the
        // graph's one-off capture cost is part of the measured difference.
        double tk = solve(1 + k, false, true);
        double tk_eager = backend->device() == Device::CUDA ? solve(1 + k, false, false) : tk;
        double per_step = (tk - t1) / k;
        bool fallback = false;
        if (!(per_step > 0)) per_step = tk / (1 + k), fallback = true;
        double fixed = std::max(0.0, t1 - per_step);
        json rd;
        rd["task"] = "inpaint, centred box (half the side)";
        rd["measured_steps"] = k;
        rd["solve_1_step_s"] = t1;
        rd["solve_" + std::to_string(1 + k) + "_steps_s"] = tk;
        rd["step_ms"] = per_step * 1e3;
        rd["step_ms_per_image"] = per_step * 1e3 / n;
        rd["step_ms_launch_by_launch"] = (tk_eager - t1) / k * 1e3;
        rd["cuda_graph"] = graph_note.empty() ? "off" : graph_note;
        rd["fixed_s"] = fixed;
        if (fallback) rd["note"] = "per-step time from the longer solve only (the difference was not positive)";
        json spi;
        for (int N : st.steps) spi[std::to_string(N)] = (fixed + N * per_step) / n;
        rd["s_per_image"] = spi;
        rd["extrapolated"] = true;
        row["reddiff"] = rd;
        size_t solver_b = solver_buffer_bytes(cfg, n, h, w, ro.sigma_x0) + mu.bytes() + y.bytes();
        mem["solver"] = solver_b;
        if (probe.active) mem["operator_measured"] = op_bytes;
        size_t tool_solve = (backend->device() == Device::CUDA ? net.device_bytes() : net.device_bytes() + weights) +
                            in.t.bytes() + in.labels.bytes() + in.out.bytes() + solver_b;
        tool_total = std::max(tool_total, tool_solve);
        probe.sample();
        if (st.algos.size() > 1) {
          json a;
          for (const char* key : {"task", "measured_steps", "step_ms", "step_ms_per_image", "fixed_s", "s_per_image", "cuda_graph"})
            a[key] = rd[key];
          if (rd.contains("note")) a["note"] = rd["note"];
          a["network_passes_per_step"] = "forward";
          a["default_steps"] = st.steps;
          a["extrapolated"] = true;
          json am;
          am["weights"] = weights;
          am["forward_plan"] = c.plan.arena_bytes + c.backend_extra_bytes;
          am["solver"] = solver_b - mu.bytes() - y.bytes();
          am["operator_estimate"] = size_t(n) * h * w * 4;  // the inpaint mask [n, 1, h, w]
          am["x_y"] = mu.bytes() + y.bytes();
          am["tool_total"] = tool_solve + size_t(n) * h * w * 4;
          if (probe.active) {
            am["operator_measured"] = op_bytes;
            am["cuda_used_delta_peak"] = reddiff_peak;
          }
          a["memory_bytes"] = am;
          a["status"] = "ok";
          row["algos"]["reddiff"] = a;
        }
      } catch (const Error& e) {  // keep the forward figures; say why the solver has none
        row["reddiff_note"] = std::string("solver not timed: ") + e.what();
      }
    }
  }
  mem["tool_total"] = tool_total;
  if (probe.active) mem["cuda_used_delta_peak"] = probe.peak;
  row["memory_bytes"] = mem;

  // The other methods, each on a backend and Network of its own once this row's (and its buffers) are
  // gone, so that each one's measured peak is its own.
  bool others = false;
  for (const auto& a : st.algos) others = others || a != "reddiff";
  if (st.solver_steps > 0 && others) {
    const double fwd_ms = s.median;
    in = Inputs();
    net_owner.reset();
    backend.reset();
    for (const auto& algo : st.algos) {
      if (algo == "reddiff") {
        if (!row.contains("algos") || !row["algos"].contains("reddiff"))
          row["algos"]["reddiff"] = {{"status", "skipped"}, {"note", row.value("reddiff_note", std::string("not measured"))}};
        continue;
      }
      if (st.budget_s > 0 && seconds_since(t_start) > st.budget_s) {
        row["algos"][algo] = {{"status", "skipped"}, {"note", "time budget spent"}};
        continue;
      }
      try {
        row["algos"][algo] = run_method(st, model, prec, n, h, w, algo, fwd_ms, probe);
      } catch (const Error& e) {
        row["algos"][algo] = {{"status", "error"}, {"note", e.what()}};
      } catch (const std::bad_alloc&) {
        row["algos"][algo] = {{"status", "error"}, {"note", "out of host memory"}};
      }
      std::fprintf(stderr, "bench: %s batch %d, %s: %s\n", dtype_name(prec), n, algo.c_str(),
                   row["algos"][algo]["status"].get<std::string>().c_str());
    }
  }
  row["status"] = "ok";
  return row;
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

json device_info(const std::string& device, int threads) {
  json d;
  d["kind"] = device;
#ifdef REDDIFF_HAVE_CUDA
  if (device == "cuda") {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, 0) == cudaSuccess) {
      d["name"] = p.name;
      d["compute_capability"] = std::to_string(p.major) + "." + std::to_string(p.minor);
      d["memory_bytes"] = size_t(p.totalGlobalMem);
      d["sm_count"] = p.multiProcessorCount;
    }
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    d["cuda_driver_api"] = std::to_string(drv / 1000) + "." + std::to_string(drv % 1000 / 10);
    d["cuda_runtime"] = std::to_string(rt / 1000) + "." + std::to_string(rt % 1000 / 10);
  }
#endif
  if (device == "cpu") {
    d["threads"] = threads;
    d["kernels"] = cpu_kernel_set();
  }
  d["cpu_model"] = cpu_model_name();  // the host's CPU, also beside a GPU
  return d;
}

std::string fmt(const json& v, const char* f, double scale = 1.0) {
  if (v.is_null() || !v.is_number()) return "-";
  char b[64];
  std::snprintf(b, sizeof b, f, v.get<double>() * scale);
  return b;
}

// The methods block (--algo with more than reddiff): one line per (precision, batch, method).
void print_methods(const json& doc) {
  bool any = false;
  for (const auto& r : doc["results"]) any = any || r.contains("algos");
  if (!any) return;
  const double mib = 1.0 / (1024.0 * 1024.0);
  std::printf("\nmethods on one engine (%s):\n", doc["settings"]["algo_task"].get<std::string>().c_str());
  std::printf("%-5s %5s %-8s %10s %12s %12s %10s %10s\n", "prec", "batch", "algo", "step ms", "steps", "s/img", "tool MiB", "cuda MiB");
  for (const auto& r : doc["results"]) {
    if (!r.contains("algos")) continue;
    for (const auto& name : kAlgoOrder) {
      if (!r["algos"].contains(name)) continue;
      const json& a = r["algos"][name];
      std::printf("%-5s %5d %-8s ", r["precision"].get<std::string>().c_str(), r["batch"].get<int>(), name.c_str());
      if (a["status"] != "ok") {
        std::printf("%s: %s\n", a["status"].get<std::string>().c_str(), a.value("note", std::string()).c_str());
        continue;
      }
      std::string steps, spi;
      for (int N : a["default_steps"].get<std::vector<int>>()) {
        steps += (steps.empty() ? "" : "/") + std::to_string(N);
        spi += (spi.empty() ? "" : "/") + fmt(a["s_per_image"][std::to_string(N)], "%.2f");
      }
      const json& m = a["memory_bytes"];
      std::printf("%10s %12s %12s %10s %10s\n", fmt(a["step_ms"], "%.2f").c_str(), steps.c_str(), spi.c_str(),
                  fmt(m["tool_total"], "%.0f", mib).c_str(),
                  m.contains("cuda_used_delta_peak") ? fmt(m["cuda_used_delta_peak"], "%.0f", mib).c_str() : "-");
    }
  }
  std::printf("step ms: difference of a 1-step and a (1+k)-step solve over k; s/img: EXTRAPOLATED for each method's default\n"
              "step count(s); tool MiB: weights + the method's plan (forward, or forward+VJP for DPS/PiGDM) + solver buffers\n"
              "+ operator + x, y%s.\n",
              doc["device"]["kind"] == "cuda" ? "; cuda MiB: peak cudaMemGetInfo used-delta while the method's solver ran" : "");
}

void print_table(const json& doc) {
  const auto& st = doc["settings"];
  std::vector<int> steps = st["steps"].get<std::vector<int>>();
  std::printf("\n%s: %s, %dx%d, %s\n", doc["model"]["name"].get<std::string>().c_str(),
              doc["model"]["source"].get<std::string>().c_str(), doc["model"]["size"][0].get<int>(),
              doc["model"]["size"][1].get<int>(), doc["backend"].get<std::string>().c_str());
  std::printf("host CPU: %s\n", doc["device"]["cpu_model"].get<std::string>().c_str());
  std::printf("%-5s %5s %10s %10s %9s %9s %9s %9s", "prec", "batch", "fwd ms", "fwd p90", "img/s", "TFLOP/s", "step ms", "no-graph");
  for (int N : steps) std::printf(" %10s", ("s/img@" + std::to_string(N)).c_str());
  std::printf(" %10s %10s\n", "tool MiB", "cuda MiB");
  for (const auto& r : doc["results"]) {
    std::printf("%-5s %5d ", r["precision"].get<std::string>().c_str(), r["batch"].get<int>());
    if (r["status"] != "ok") {
      std::printf("%s%s%s\n", r["status"].get<std::string>().c_str(), r.contains("note") ? ": " : "",
                  r.contains("note") ? r["note"].get<std::string>().c_str() : "");
      continue;
    }
    const json& rd = r.contains("reddiff") ? r["reddiff"] : json();
    std::printf("%10s %10s %9s %9s %9s %9s", fmt(r["forward_ms"]["median"], "%.2f").c_str(), fmt(r["forward_ms"]["p90"], "%.2f").c_str(),
                fmt(r["images_per_s"], "%.2f").c_str(), fmt(r["tflops"], "%.2f").c_str(),
                rd.is_null() ? "-" : fmt(rd["step_ms"], "%.2f").c_str(),
                rd.is_null() || rd["cuda_graph"] == "off" ? "-" : fmt(rd["step_ms_launch_by_launch"], "%.2f").c_str());
    for (int N : steps) std::printf(" %10s", rd.is_null() ? "-" : fmt(rd["s_per_image"][std::to_string(N)], "%.2f").c_str());
    const json& m = r["memory_bytes"];
    std::printf(" %10s %10s\n", fmt(m["tool_total"], "%.0f", 1.0 / (1024.0 * 1024.0)).c_str(),
                m.contains("cuda_used_delta_peak") ? fmt(m["cuda_used_delta_peak"], "%.0f", 1.0 / (1024.0 * 1024.0)).c_str() : "-");
  }
  for (const auto& r : doc["results"])
    if (r.contains("reddiff_note"))
      std::printf("%s batch %d: %s\n", r["precision"].get<std::string>().c_str(), r["batch"].get<int>(),
                  r["reddiff_note"].get<std::string>().c_str());
  std::printf("fwd ms: median (and p90) of individually timed forwards; img/s and TFLOP/s: back-to-back forwards%s.\n",
              doc["device"]["kind"] == "cuda" ? " (CUDA events)" : "");
  if (st["solver_steps"].get<int>() > 0)
    std::printf("s/img@N: RED-diff seconds per image for N steps, EXTRAPOLATED from a few measured steps (fixed cost + N x step).\n");
  std::printf("tool MiB: weights + arena + backend extras + I/O + solver buffers (reddiff's own accounting)%s.\n",
              doc["device"]["kind"] == "cuda" ? "; cuda MiB: peak cudaMemGetInfo used-delta" : "");
  print_methods(doc);
}

int run_bench(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Benchmark the network and the solvers: forward latency, images/s, TFLOP/s, seconds per image of\n"
                        "RED-diff (and with --algo: DPS, PiGDM, DDRM), peak device memory. Random weights for a named architecture, or a model file.");
  opts.add_options()
      ("model", "model file (.safetensors from reddiff convert)", cxxopts::value<std::string>())
      ("arch", "imagenet256-uncond, imagenet256, ffhq256 (random weights) or bundled (the default model file)",
       cxxopts::value<std::string>())
      ("device", "auto, cpu or cuda", cxxopts::value<std::string>()->default_value("auto"))
      ("precision", "comma list of f32, f16, bf16 (default: f32,f16 on cuda, f32 on cpu)", cxxopts::value<std::string>())
      ("batch", "comma list of batch sizes (default: 1,4,16 on cuda, 1 on cpu)", cxxopts::value<std::string>())
      ("size", "image height = width (default: the model's image_size)", cxxopts::value<int>())
      ("repeat", "timed forwards per configuration, at most (default: 30 on cuda, 5 on cpu)", cxxopts::value<int>())
      ("warmup", "untimed forwards first (default: 3 on cuda, 1 on cpu)", cxxopts::value<int>())
      ("max-time", "seconds one timed loop may take before it stops (at least 3 samples)", cxxopts::value<double>())
      ("steps", "RED-diff step counts to report seconds per image for (extrapolated)",
       cxxopts::value<std::string>()->default_value("100,1000"))
      ("solver-steps", "RED-diff steps actually timed per configuration (0: skip the solver; default 10 cuda, 2 cpu)",
       cxxopts::value<int>())
      ("algo", "methods to time: reddiff, dps, pigdm, ddrm, a comma list of them, or all (each: per-step time, "
       "s/img for its default steps, peak memory; all on inpainting with a centred box)",
       cxxopts::value<std::string>()->default_value("reddiff"))
      ("threads", "CPU threads (0: all)", cxxopts::value<int>()->default_value("0"))
      ("seed", "seed of the random weights and inputs", cxxopts::value<uint64_t>()->default_value("0"))
      ("budget-s", "stop starting new configurations after this many seconds (0: no limit)",
       cxxopts::value<double>()->default_value("0"))
      ("json", "write the results as JSON (rewritten after each configuration)", cxxopts::value<std::string>())
      ("quick", "fewer repeats and solver steps")
      ("profile-forward", "on CUDA, record the first timed forward of each configuration for a profiler started "
       "with --profile-from-start off (cudaProfilerStart/Stop; scripts/profile-gpu runs Nsight Compute so)")
      ("h,help", "show this help");
  auto r = parse_or_throw(opts, argc, argv);
  if (r.count("help")) {
    std::printf("%s\n", opts.help().c_str());
    return 0;
  }
  std::string algo = r["algo"].as<std::string>();
  Settings st;
  {
    std::vector<std::string> asked = split_list(algo);
    if (asked.empty()) throw Error("--algo is empty");
    for (const auto& a : asked)
      if (a != "all" && std::find(kAlgoOrder.begin(), kAlgoOrder.end(), a) == kAlgoOrder.end())
        throw Error("--algo must be reddiff, dps, pigdm, ddrm, a comma list of them, or all (got '" + a + "')");
    st.algos.clear();
    for (const auto& a : kAlgoOrder)
      if (std::find(asked.begin(), asked.end(), a) != asked.end() || std::find(asked.begin(), asked.end(), "all") != asked.end())
        st.algos.push_back(a);
  }
  std::string dev = r["device"].as<std::string>();
  if (dev != "auto" && dev != "cpu" && dev != "cuda") throw Error("--device must be auto, cpu or cuda (got '" + dev + "')");
  if (dev == "auto") dev = cuda_available() ? "cuda" : "cpu";
  if (dev == "cuda" && !cuda_available()) throw Error("--device cuda: no usable CUDA device (or this build has no CUDA support)");
  st.device = dev;
  bool cuda = dev == "cuda", quick = r.count("quick") > 0;
  st.threads = r["threads"].as<int>();
  if (st.threads < 0) throw Error("--threads must be >= 0");
  st.repeat = r.count("repeat") ? r["repeat"].as<int>() : cuda ? (quick ? 10 : 30) : (quick ? 2 : 5);
  st.warmup = r.count("warmup") ? r["warmup"].as<int>() : cuda ? (quick ? 2 : 3) : 1;
  st.max_time = r.count("max-time") ? r["max-time"].as<double>() : cuda ? (quick ? 1.5 : 3.0) : (quick ? 20.0 : 60.0);
  st.solver_steps = r.count("solver-steps") ? r["solver-steps"].as<int>() : cuda ? (quick ? 4 : 10) : (quick ? 1 : 2);
  st.steps = int_list(r["steps"].as<std::string>(), "steps", 1, 100000);
  st.budget_s = r["budget-s"].as<double>();
  st.seed = r["seed"].as<uint64_t>();
  st.profile_forward = r.count("profile-forward") > 0;
  if (st.repeat < 1 || st.repeat > 100000) throw Error("--repeat must be between 1 and 100000");
  if (st.warmup < 0 || st.warmup > 1000) throw Error("--warmup must be between 0 and 1000");
  if (!(st.max_time > 0)) throw Error("--max-time must be positive");
  if (st.solver_steps < 0 || st.solver_steps > 998) throw Error("--solver-steps must be between 0 and 998");
  if (st.budget_s < 0) throw Error("--budget-s must be >= 0");

  std::vector<DType> precs;
  for (const auto& p : split_list(r.count("precision") ? r["precision"].as<std::string>() : cuda ? "f32,f16" : "f32"))
    precs.push_back(parse_precision(p));
  if (precs.empty()) throw Error("--precision is empty");
  std::vector<int> batches = int_list(r.count("batch") ? r["batch"].as<std::string>() : cuda ? "1,4,16" : "1", "batch", 1, 4096);

  auto t_start = Clock::now();
  CudaMemProbe probe;
  if (cuda) probe.init();  // before the model, so the baseline has no model memory
  Model_ m = load_bench_model(r, st.seed);
  const AdmConfig& cfg = m.model->config.adm;
  int size = r.count("size") ? r["size"].as<int>() : cfg.image_size;
  if (size < 1 || size > 8192) throw Error("--size must be between 1 and 8192");
  double load_s = seconds_since(t_start);

  json doc;
  doc["tool"] = "reddiff bench";
  doc["version"] = REDDIFF_VERSION;
  doc["date"] = now_utc();
  doc["device"] = device_info(dev, st.threads);
  {
    auto b = make_backend(dev, st.threads);
    doc["backend"] = b->name();
  }
  doc["model"] = {{"source", m.source},
                  {"name", m.name},
                  {"arch", m.model->config.arch},
                  {"config", to_json(cfg)},
                  {"parameters", m.model->weights.parameter_count()},
                  {"size", {size, size}},
                  {"flops_per_image", forward_flops(cfg, size, size)},
                  {"load_s", load_s}};
  doc["settings"] = {{"repeat", st.repeat},          {"warmup", st.warmup},  {"max_time_s", st.max_time},
                     {"solver_steps", st.solver_steps}, {"steps", st.steps}, {"algo", algo},
                     {"algos", st.algos},             {"algo_task", kAlgoTask},
                     {"seed", st.seed},                {"quick", quick},     {"budget_s", st.budget_s},
                     {"profile_forward", st.profile_forward}};
  if (probe.active) doc["cuda_baseline_used_bytes"] = probe.baseline;
  doc["results"] = json::array();
  std::string json_path = r.count("json") ? r["json"].as<std::string>() : "";
  auto save = [&]() {
    if (json_path.empty()) return;
    std::ofstream f(json_path);
    if (!f) throw Error("cannot write " + json_path);
    f << doc.dump(2) << "\n";
  };
  save();

  std::fprintf(stderr, "bench: %s (%s, %.1f M parameters, %.3f TFLOP per %dx%d image) on %s\n", m.name.c_str(),
               m.source.c_str(), m.model->weights.parameter_count() / 1e6, forward_flops(cfg, size, size) / 1e12, size,
               size, doc["backend"].get<std::string>().c_str());
  for (DType p : precs) {
    for (int n : batches) {
      json row;
      if (st.budget_s > 0 && seconds_since(t_start) > st.budget_s) {
        row = {{"precision", dtype_name(p)}, {"batch", n}, {"status", "skipped"}, {"note", "time budget spent"}};
      } else {
        auto t0 = Clock::now();
        try {
          row = run_config(st, *m.model, p, n, size, size, probe, t_start);
        } catch (const Error& e) {
          row = {{"precision", dtype_name(p)}, {"batch", n}, {"status", "error"}, {"note", e.what()}};
        } catch (const std::bad_alloc&) {
          row = {{"precision", dtype_name(p)}, {"batch", n}, {"status", "error"}, {"note", "out of host memory"}};
        }
        row["wall_s"] = seconds_since(t0);
      }
      std::fprintf(stderr, "bench: %s batch %d: %s", dtype_name(p), n, row["status"].get<std::string>().c_str());
      if (row["status"] == "ok")
        std::fprintf(stderr, ", forward %.2f ms, %.1f s", row["forward_ms"]["median"].get<double>(), row["wall_s"].get<double>());
      else if (row.contains("note"))
        std::fprintf(stderr, ": %s", row["note"].get<std::string>().c_str());
      std::fprintf(stderr, "\n");
      doc["results"].push_back(row);
      save();
    }
  }
  doc["wall_s"] = seconds_since(t_start);
  save();
  print_table(doc);
  bool any_ok = false;
  for (const auto& row : doc["results"]) any_ok = any_ok || row["status"] == "ok";
  return any_ok ? 0 : 1;
}

CommandRegistration reg("bench", "benchmark the network and the solvers (time, throughput, memory)", &run_bench, 90);

}  // namespace
}  // namespace reddiff
