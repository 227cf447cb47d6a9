// reddiff bench's report: the device as JSON, and the tables printed at the end (docs/benchmarks.md).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "engine/cpu/cpu_info.h"
#include "tool/bench.h"

namespace reddiff {

using json = nlohmann::json;

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

json device_json(Backend& b, const std::string& device, int threads) {
  json d;
  d["kind"] = device;
  if (device == "cuda") {
    const DeviceProperties p = b.properties();
    if (!p.name.empty()) {
      d["name"] = p.name;
      d["compute_capability"] = p.compute_capability;
      d["memory_bytes"] = p.memory_bytes;
      d["sm_count"] = p.multiprocessors;
    }
    if (!p.driver_version.empty()) d["cuda_driver_api"] = p.driver_version;
    if (!p.runtime_version.empty()) d["cuda_runtime"] = p.runtime_version;
  }
  if (device == "cpu") {
    d["threads"] = threads;
    d["kernels"] = cpu_kernel_set();
  }
  d["cpu_model"] = cpu_model_name();  // the host's CPU, also beside a GPU
  return d;
}

namespace {

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
  std::printf("%-5s %5s %-8s %10s %12s %12s %10s %10s\n", "prec", "batch", "algo", "step ms", "steps", "s/img",
              "tool MiB", "cuda MiB");
  for (const auto& r : doc["results"]) {
    if (!r.contains("algos")) continue;
    for (Algorithm algo : bench_algorithm_order()) {
      const std::string& name = algorithm_info(algo).name;
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
  std::printf(
      "step ms: difference of a 1-step and a (1+k)-step solve over k; s/img: EXTRAPOLATED for each method's default\n"
      "step count(s); tool MiB: weights + the method's plan (forward, or forward+VJP for DPS/PiGDM) + solver buffers\n"
      "+ operator + x, y%s.\n",
      doc["device"]["kind"] == "cuda" ? "; cuda MiB: peak cudaMemGetInfo used-delta while the method's solver ran"
                                      : "");
}

// --op-times: per configuration, each kind of op's milliseconds per forward and share, largest first.
void print_op_times(const json& doc) {
  for (const auto& r : doc["results"]) {
    if (!r.contains("op_ms")) continue;
    std::vector<std::pair<double, std::string>> rows;
    double total = 0;
    for (const auto& kv : r["op_ms"].items()) {
      rows.push_back({kv.value()["ms"].get<double>(), kv.key()});
      total += rows.back().first;
    }
    std::sort(rows.rbegin(), rows.rend());
    std::printf("\nwhere a forward's time goes (%s batch %d, mean of %d forwards, a sync after each op):\n",
                r["precision"].get<std::string>().c_str(), r["batch"].get<int>(), r["op_ms_forwards"].get<int>());
    std::printf("%-22s %6s %10s %7s\n", "op", "count", "ms", "share");
    for (const auto& [ms, kind] : rows)
      std::printf("%-22s %6d %10.3f %6.1f%%\n", kind.c_str(), r["op_ms"][kind]["ops"].get<int>(), ms,
                  total > 0 ? 100.0 * ms / total : 0.0);
    std::printf("%-22s %6s %10.3f\n", "all ops", "", total);
  }
}

}  // namespace

void print_table(const json& doc) {
  const auto& st = doc["settings"];
  std::vector<int> steps = st["steps"].get<std::vector<int>>();
  std::printf("\n%s: %s, %dx%d, %s\n", doc["model"]["name"].get<std::string>().c_str(),
              doc["model"]["source"].get<std::string>().c_str(), doc["model"]["size"][0].get<int>(),
              doc["model"]["size"][1].get<int>(), doc["backend"].get<std::string>().c_str());
  std::printf("host CPU: %s\n", doc["device"]["cpu_model"].get<std::string>().c_str());
  std::printf("%-5s %5s %10s %10s %9s %9s %9s %9s", "prec", "batch", "fwd ms", "fwd p90", "img/s", "TFLOP/s", "step ms",
              "no-graph");
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
    std::printf("%10s %10s %9s %9s %9s %9s", fmt(r["forward_ms"]["median"], "%.2f").c_str(),
                fmt(r["forward_ms"]["p90"], "%.2f").c_str(), fmt(r["images_per_s"], "%.2f").c_str(),
                fmt(r["tflops"], "%.2f").c_str(), rd.is_null() ? "-" : fmt(rd["step_ms"], "%.2f").c_str(),
                rd.is_null() || rd["cuda_graph"] == "off" ? "-" : fmt(rd["step_ms_launch_by_launch"], "%.2f").c_str());
    for (int N : steps)
      std::printf(" %10s", rd.is_null() ? "-" : fmt(rd["s_per_image"][std::to_string(N)], "%.2f").c_str());
    const json& m = r["memory_bytes"];
    std::printf(" %10s %10s\n", fmt(m["tool_total"], "%.0f", 1.0 / (1024.0 * 1024.0)).c_str(),
                m.contains("cuda_used_delta_peak")
                    ? fmt(m["cuda_used_delta_peak"], "%.0f", 1.0 / (1024.0 * 1024.0)).c_str()
                    : "-");
  }
  for (const auto& r : doc["results"])
    if (r.contains("reddiff_note"))
      std::printf("%s batch %d: %s\n", r["precision"].get<std::string>().c_str(), r["batch"].get<int>(),
                  r["reddiff_note"].get<std::string>().c_str());
  std::printf("fwd ms: median (and p90) of individually timed forwards; img/s and TFLOP/s: back-to-back forwards%s.\n",
              doc["device"]["kind"] == "cuda" ? " (CUDA events)" : "");
  if (st["solver_steps"].get<int>() > 0)
    std::printf(
        "s/img@N: RED-diff seconds per image for N steps, EXTRAPOLATED from a few measured steps (fixed cost + N x "
        "step).\n");
  std::printf("tool MiB: weights + arena + backend extras + I/O + solver buffers (reddiff's own accounting)%s.\n",
              doc["device"]["kind"] == "cuda" ? "; cuda MiB: peak cudaMemGetInfo used-delta" : "");
  print_methods(doc);
  print_op_times(doc);
}

}  // namespace reddiff
