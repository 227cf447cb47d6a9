// reddiff bench: how fast and how big. For a model file or a named architecture with random weights it
// measures, per precision and batch size, the network's forward latency and throughput, RED-diff's (and with
// --algo the other methods') seconds per image, and peak device memory (tool/bench_measure.cpp); prints a
// table and writes JSON (tool/bench_report.cpp; docs/benchmarks.md describes the method and the fields).
//
//   parse (BenchSettings) -> load the model -> one row per (precision, batch) -> table.
#include <cxxopts.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/model_config.h"
#include "tool/bench.h"
#include "tool/cli_common.h"
#include "tool/command.h"
#include "tool/operator_options.h"

namespace reddiff {
namespace {

using json = nlohmann::json;

double seconds_since(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

std::vector<int> int_list(const std::string& s, const char* opt, int lo, int hi) {
  std::vector<int> v;
  for (const auto& x : comma_list(s)) {
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

cxxopts::Options make_options(const char* prog) {
  cxxopts::Options opts(
      prog,
      "Benchmark the network and the solvers: forward latency, images/s, TFLOP/s, seconds per image of\n"
      "RED-diff (and with --algo: DPS, PiGDM, DDRM), peak device memory. Random weights for a named architecture, or a "
      "model file.");
  ModelSettings::declare(opts, "", ModelSettings::Precisions::List);
  opts.add_options()("arch",
                     "imagenet256-uncond, imagenet256, ffhq256 (random weights) or bundled (the default model file)",
                     cxxopts::value<std::string>())(
      "batch", "comma list of batch sizes (default: 1,4,16 on cuda, 1 on cpu)", cxxopts::value<std::string>())(
      "size", "image height = width (default: the model's image_size)", cxxopts::value<int>())(
      "repeat", "timed forwards per configuration, at most (default: 30 on cuda, 5 on cpu)", cxxopts::value<int>())(
      "warmup", "untimed forwards first (default: 3 on cuda, 1 on cpu)", cxxopts::value<int>())(
      "max-time", "seconds one timed loop may take before it stops (at least 3 samples)", cxxopts::value<double>())(
      "steps", "RED-diff step counts to report seconds per image for (extrapolated)",
      cxxopts::value<std::string>()->default_value("100,1000"))(
      "solver-steps", "RED-diff steps actually timed per configuration (0: skip the solver; default 10 cuda, 2 cpu)",
      cxxopts::value<int>())(
      "algo",
      "methods to time: reddiff, dps, pigdm, ddrm, a comma list of them, or all (each: per-step time, "
      "s/img for its default steps, peak memory; all on inpainting with a centred box)",
      cxxopts::value<std::string>()->default_value("reddiff"))("seed", "seed of the random weights and inputs",
                                                               cxxopts::value<uint64_t>()->default_value("0"))(
      "budget-s", "stop starting new configurations after this many seconds (0: no limit)",
      cxxopts::value<double>()->default_value("0"))(
      "json", "write the results as JSON (rewritten after each configuration)", cxxopts::value<std::string>())(
      "quick", "fewer repeats and solver steps")(
      "profile-forward",
      "on CUDA, record the first timed forward of each configuration for a profiler started "
      "with --profile-from-start off (cudaProfilerStart/Stop; scripts/profile-gpu runs Nsight Compute so)")(
      "op-times",
      "also time each op of a few more forwards (a device sync after each) and print where a forward's time "
      "goes, per kind of op (on CUDA the syncs remove overlap: use scripts/profile-gpu there)")("h,help",
                                                                                                "show this help");
  return opts;
}

// --algo: the methods asked for, in the order they run.
std::vector<Algorithm> algorithms_from(const std::string& arg) {
  const std::vector<std::string> asked = comma_list(arg);
  if (asked.empty()) throw Error("--algo is empty");
  auto asked_for = [&](const std::string& n) { return std::find(asked.begin(), asked.end(), n) != asked.end(); };
  for (const auto& a : asked) {
    Algorithm ignored;
    if (a != "all" && !parse_algorithm(a, &ignored))
      throw Error("--algo must be reddiff, dps, pigdm, ddrm, a comma list of them, or all (got '" + a + "')");
  }
  std::vector<Algorithm> v;
  for (Algorithm a : bench_algorithm_order())
    if (asked_for("all") || asked_for(algorithm_info(a).name)) v.push_back(a);
  return v;
}

// Every option read and checked; the defaults depend on the device (--quick: fewer repeats and steps).
BenchSettings settings_from(const cxxopts::ParseResult& r) {
  BenchSettings st;
  st.model = ModelSettings::from(r, ModelSettings::Precisions::List);
  st.algos = algorithms_from(r["algo"].as<std::string>());
  st.device = st.model.resolved_device();
  const bool cuda = st.device == "cuda", quick = r.count("quick") > 0;
  st.repeat = r.count("repeat") ? r["repeat"].as<int>() : cuda ? (quick ? 10 : 30) : (quick ? 2 : 5);
  st.warmup = r.count("warmup") ? r["warmup"].as<int>() : cuda ? (quick ? 2 : 3) : 1;
  st.max_time = r.count("max-time") ? r["max-time"].as<double>() : cuda ? (quick ? 1.5 : 3.0) : (quick ? 20.0 : 60.0);
  st.solver_steps = r.count("solver-steps") ? r["solver-steps"].as<int>() : cuda ? (quick ? 4 : 10) : (quick ? 1 : 2);
  st.steps = int_list(r["steps"].as<std::string>(), "steps", 1, 100000);
  st.budget_s = r["budget-s"].as<double>();
  st.seed = r["seed"].as<uint64_t>();
  st.profile_forward = r.count("profile-forward") > 0;
  st.op_times = r.count("op-times") > 0;
  if (st.repeat < 1 || st.repeat > 100000) throw Error("--repeat must be between 1 and 100000");
  if (st.warmup < 0 || st.warmup > 1000) throw Error("--warmup must be between 0 and 1000");
  if (!(st.max_time > 0)) throw Error("--max-time must be positive");
  if (st.solver_steps < 0 || st.solver_steps > 998) throw Error("--solver-steps must be between 0 and 998");
  if (st.budget_s < 0) throw Error("--budget-s must be >= 0");
  if (st.model.precisions.empty())
    st.model.precisions = cuda ? std::vector<DType>{DType::F32, DType::F16} : std::vector<DType>{DType::F32};
  st.batches = int_list(r.count("batch") ? r["batch"].as<std::string>() : cuda ? "1,4,16" : "1", "batch", 1, 4096);
  return st;
}

struct BenchModel {
  std::unique_ptr<Model> model;
  std::string source, name;  // file | bundled | random; its path or architecture
};

// --model FILE, --arch NAME (random weights), or --arch bundled (the default).
BenchModel load_bench_model(const cxxopts::ParseResult& r, const BenchSettings& st) {
  BenchModel m;
  if (r.count("model") && r.count("arch")) throw Error("give --model or --arch, not both");
  if (r.count("model")) {
    m.name = st.model.model;
    m.model = Model::load(m.name);
    m.source = "file";
    return m;
  }
  const std::string arch = r.count("arch") ? r["arch"].as<std::string>() : "bundled";
  if (arch == "bundled") {
    m.name = default_model_path();
    if (!std::ifstream(m.name, std::ios::binary))
      throw Error("--arch bundled: the bundled model " + m.name + " is missing (give --model FILE or --arch NAME)");
    m.model = Model::load(m.name);
    m.source = "bundled";
    return m;
  }
  ModelConfig cfg;
  if (!named_architecture(arch, &cfg)) {
    std::string names;
    for (const auto& n : named_architectures()) names += n + ", ";
    throw Error("--arch must be bundled or one of " + names.substr(0, names.size() - 2) + " (got '" + arch + "')");
  }
  m.model = Model::random(cfg, st.seed);
  m.source = "random";
  m.name = arch;
  return m;
}

json model_json(const BenchModel& m, int size, double load_s) {
  const AdmConfig& cfg = m.model->config.adm;
  return {{"source", m.source},
          {"name", m.name},
          {"arch", m.model->config.arch},
          {"config", to_json(cfg)},
          {"parameters", m.model->weights.parameter_count()},
          {"size", {size, size}},
          {"flops_per_image", forward_flops(cfg, size, size)},
          {"load_s", load_s}};
}

json settings_json(const BenchSettings& st, const std::string& algo_arg, bool quick) {
  json names = json::array();
  for (Algorithm a : st.algos) names.push_back(algorithm_info(a).name);
  return {{"repeat", st.repeat},
          {"warmup", st.warmup},
          {"max_time_s", st.max_time},
          {"solver_steps", st.solver_steps},
          {"steps", st.steps},
          {"algo", algo_arg},
          {"algos", names},
          {"algo_task", kBenchTask},
          {"seed", st.seed},
          {"quick", quick},
          {"budget_s", st.budget_s},
          {"profile_forward", st.profile_forward},
          {"op_times", st.op_times}};
}

// One row: measured, skipped for the time budget, or the error that stopped it; and its line on stderr.
json run_row(const BenchSettings& st, const Model& model, DType p, int n, int size, MemoryProbe& probe,
             BenchClock::time_point t_start) {
  json row;
  if (st.budget_s > 0 && seconds_since(t_start) > st.budget_s) {
    row = {{"precision", dtype_name(p)}, {"batch", n}, {"status", "skipped"}, {"note", "time budget spent"}};
  } else {
    const auto t0 = BenchClock::now();
    try {
      row = run_config(st, model, p, n, size, size, probe, t_start);
    } catch (const Error& e) {
      row = {{"precision", dtype_name(p)}, {"batch", n}, {"status", "error"}, {"note", e.what()}};
    } catch (const std::bad_alloc&) {
      row = {{"precision", dtype_name(p)}, {"batch", n}, {"status", "error"}, {"note", "out of host memory"}};
    }
    row["wall_s"] = seconds_since(t0);
  }
  std::fprintf(stderr, "bench: %s batch %d: %s", dtype_name(p), n, row["status"].get<std::string>().c_str());
  if (row["status"] == "ok")
    std::fprintf(stderr, ", forward %.2f ms, %.1f s", row["forward_ms"]["median"].get<double>(),
                 row["wall_s"].get<double>());
  else if (row.contains("note"))
    std::fprintf(stderr, ": %s", row["note"].get<std::string>().c_str());
  std::fprintf(stderr, "\n");
  return row;
}

int run_bench(int argc, char** argv) {
  cxxopts::Options opts = make_options(argv[0]);
  const auto r = parse_or_throw(opts, argc, argv);
  if (r.count("help")) {
    std::printf("%s\n", opts.help().c_str());
    return 0;
  }
  const BenchSettings st = settings_from(r);

  const auto t_start = BenchClock::now();
  // A backend made before the model, kept for the run: the memory baseline, the device's report.
  const auto first = st.model.make_backend();
  MemoryProbe probe(*first);
  const BenchModel m = load_bench_model(r, st);
  const int size = r.count("size") ? r["size"].as<int>() : m.model->config.adm.image_size;
  if (size < 1 || size > 8192) throw Error("--size must be between 1 and 8192");

  json doc;
  doc["tool"] = "reddiff bench";
  doc["version"] = REDDIFF_VERSION;
  doc["date"] = now_utc();
  doc["device"] = device_json(*first, st.device, st.model.threads);
  doc["backend"] = first->name();
  doc["model"] = model_json(m, size, seconds_since(t_start));
  doc["settings"] = settings_json(st, r["algo"].as<std::string>(), r.count("quick") > 0);
  if (probe.active()) doc["cuda_baseline_used_bytes"] = probe.baseline();
  doc["results"] = json::array();
  const std::string json_path = r.count("json") ? r["json"].as<std::string>() : "";
  auto save = [&]() {
    if (json_path.empty()) return;
    std::ofstream f(json_path);
    if (!f) throw Error("cannot write " + json_path);
    f << doc.dump(2) << "\n";
  };
  save();

  std::fprintf(stderr, "bench: %s (%s, %.1f M parameters, %.3f TFLOP per %dx%d image) on %s\n", m.name.c_str(),
               m.source.c_str(), m.model->weights.parameter_count() / 1e6,
               forward_flops(m.model->config.adm, size, size) / 1e12, size, size, first->name().c_str());
  for (DType p : st.model.precisions)
    for (int n : st.batches) {
      doc["results"].push_back(run_row(st, *m.model, p, n, size, probe, t_start));
      save();
    }
  doc["wall_s"] = seconds_since(t_start);
  save();
  print_table(doc);
  const bool any_ok =
      std::any_of(doc["results"].begin(), doc["results"].end(), [](const json& row) { return row["status"] == "ok"; });
  return any_ok ? 0 : 1;
}

CommandRegistration reg("bench", "benchmark the network and the solvers (time, throughput, memory)", &run_bench, 90);

}  // namespace
}  // namespace reddiff
