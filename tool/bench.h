// reddiff bench's parts, shared by its three files: the settings (cmd_bench.cpp reads them), one
// configuration measured (bench_measure.cpp: forward latency and throughput, RED-diff's and the other methods'
// per-step times and memory), and the report (bench_report.cpp: the device, the tables).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/dtype.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "solvers/solver.h"
#include "tool/model_settings.h"

namespace reddiff {

using BenchClock = std::chrono::steady_clock;

struct BenchSettings {
  ModelSettings model;  // --model --device --precision (a list) --threads
  std::string device;   // resolved: "cpu" or "cuda"
  std::vector<int> batches;
  int repeat = 30, warmup = 3;
  double max_time = 3.0;              // seconds per timed loop (at least 3 samples)
  int solver_steps = 10;              // measured solver steps (0: no solver timing)
  std::vector<int> steps{100, 1000};  // RED-diff's step counts for the seconds-per-image figures
  double budget_s = 0;                // 0: none
  uint64_t seed = 0;
  std::vector<Algorithm> algos{Algorithm::RedDiff};  // in the order they run (bench_algorithm_order)
  bool profile_forward = false;  // the first timed forward of a configuration inside Backend::profile_range
  bool op_times = false;         // --op-times: per op kind, ms per forward (Network::set_op_times)
  bool has(Algorithm a) const;
  bool has_others() const;  // a method besides RED-diff
};

// The order --algo's methods run and print in: reddiff first (on the forward's network), then ddrm, dps, pigdm.
const std::vector<Algorithm>& bench_algorithm_order();
// The task every method runs: inpainting with a centred box (half the side).
extern const char* kBenchTask;

// The device's used memory (every process on it, Backend::memory_info) relative to a baseline taken when the
// probe is made: before the model exists. Inactive where the backend has no memory query (the CPU).
class MemoryProbe {
 public:
  explicit MemoryProbe(Backend& b);
  bool active() const { return active_; }
  size_t baseline() const { return baseline_; }
  size_t used_delta();  // now, above the baseline (0 below it or when inactive)
  void sample() { peak_ = std::max(peak_, used_delta()); }
  size_t peak() const { return peak_; }
  void set_peak(size_t p) { peak_ = p; }
  void reset() { peak_ = 0; }

 private:
  Backend& b_;
  bool active_ = false;
  size_t baseline_ = 0, peak_ = 0;
};

// One configuration (precision x batch) of images h x w: the row of the results (docs/benchmarks.md has
// its fields).
nlohmann::json run_config(const BenchSettings& st, const Model& model, DType prec, int n, int h, int w,
                          MemoryProbe& probe, BenchClock::time_point t_start);

// The report's "device": kind, the GPU's properties and CUDA versions, or the CPU's threads and kernels; the
// host's CPU either way.
nlohmann::json device_json(Backend& b, const std::string& device, int threads);
std::string now_utc();
// The tables on stdout: one row per configuration, then the methods (--algo with more than reddiff).
void print_table(const nlohmann::json& doc);

}  // namespace reddiff
