// report_restore: the single image's CSV, the batch summary, the JSON report.
#include "tool/restore_report.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/cpu/cpu_info.h"
#include "solvers/factory.h"
#include "tool/cli_common.h"
#include "tool/operator_options.h"
#include "tool/solver_options.h"

namespace reddiff {
namespace {

using json = nlohmann::json;

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

struct Summary {
  double psnr = std::nan(""), ssim = std::nan("");  // means over the scored images
  int scored = 0, skipped = 0;
};

Summary summarize(const RestorePlan& p) {
  Summary m;
  double psnr_sum = 0, ssim_sum = 0;
  int n_ssim = 0;
  for (const Item& it : p.items) {
    m.skipped += it.status == "exists";
    if (std::isfinite(it.psnr)) psnr_sum += it.psnr, ++m.scored;
    if (std::isfinite(it.ssim)) ssim_sum += it.ssim, ++n_ssim;
  }
  if (m.scored) m.psnr = psnr_sum / m.scored;
  if (n_ssim) m.ssim = ssim_sum / n_ssim;
  return m;
}

// One image: its row, written atomically when the run is done (a batch writes rows as they come).
void write_single_csv(const std::string& path, const Item& it) {
  make_directories(parent_directory(path));
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  CsvWriter one;
  one.open(tmp);
  one.row(it.in.rel, it.status, it.psnr, it.ssim, it.seconds);
  one.close();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot write --csv '" + path + "'");
  }
}

void print_summary(const RestoreSettings& s, const RestorePlan& p, const RestoreTotals& t, const Summary& m) {
  std::string line = s.prefix() + "restored " + std::to_string(t.restored) + ", skipped " + std::to_string(m.skipped) +
                     ", failed " + std::to_string(t.failed) + " of " + std::to_string(p.items.size()) + " images";
  if (p.shard.count > 1) line += " (shard " + p.shard.str() + ")";
  if (s.measure && m.scored) {
    char b[96];
    std::snprintf(b, sizeof b, "; mean PSNR %.2f dB, SSIM %.4f", m.psnr, m.ssim);
    line += b;
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

json model_json(const RestoreSettings& s, const RestoreEngine* e) {
  json j = {{"path", !s.model.model.empty() ? s.model.model : default_model_path()}};
  if (!e) return j;
  const Model& m = *e->model;
  j["config"] = to_json(m.config.adm);
  j["schedule"] = to_json(m.config.schedule);
  j["arch"] = m.config.arch;
  j["parameters"] = m.weights.parameter_count();
  j["file_dtype"] = dtype_name(m.file_dtype);
  j["file_bytes"] = m.file_bytes;
  return j;
}

json solver_json(const RestoreSettings& s, const RestoreEngine* e) {
  const Algorithm a = s.solver.algo;
  json j = e ? e->solver->describe() : to_json(a, s.solver.settings);
  if (e && e->tiling->any_tiled() && j.contains("cuda_graph")) j["cuda_graph"] = "off (tiled)";
  j["preset"] = preset_json(*s.task, a);
  return j;
}

json memory_json(const RestoreEngine* e, const RestoreTotals& t) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const size_t net_bytes = e ? e->net->device_bytes() : 0;
  return {
      {"network_device_bytes", net_bytes},  // weights on the device + arenas + backend workspaces, every shape compiled
      {"solver_bytes", t.max_solver_bytes},  // the largest batch: the solver's workspace, y and x
      {"peak_device_bytes_estimate", net_bytes + t.max_solver_bytes},
      {"host_peak_rss_bytes", int64_t(ru.ru_maxrss) * 1024},
      // measured: the device's used memory (every process) above its level before the model, sampled every step
      {"device_used_delta_peak_bytes", e && e->has_memory_info ? json(t.device_used_peak) : json(nullptr)}};
}

json images_json(const RestorePlan& p) {
  json imgs = json::array();
  for (const Item& it : p.items) {
    json j = {{"file", it.in.rel},
              {"input", it.in.path},
              {"output", it.in.out},
              {"id", hex64(it.in.id)},
              {"status", it.status},
              {"psnr", number_or_null(it.psnr)},
              {"ssim", number_or_null(it.ssim)},
              {"in_bins", number_or_null(it.in_bins)},
              {"seconds", it.seconds >= 0 ? json(it.seconds) : json(nullptr)}};
    if (it.xs.h > 0) j["size"] = {it.xs.w, it.xs.h};
    imgs.push_back(j);
  }
  return imgs;
}

void write_json(const RestoreSettings& s, const RestorePlan& p, const RestoreEngine* e, const RestoreTotals& t,
                const Summary& m, double total_s, int argc, char** argv) {
  json r;
  r["reddiff_version"] = REDDIFF_VERSION;
  std::string cmdline = "reddiff " + s.task->name;
  for (int i = 1; i < argc; ++i) cmdline += std::string(" ") + argv[i];
  r["command"] = cmdline;
  r["task"] = s.task->name;
  r["mode"] = s.measure ? "measure" : "observation";
  r["input"] = s.in;
  r["output"] = s.out;
  r["preset"] = preset_json(*s.task, Algorithm::RedDiff);  // RED-diff's; the solver's own is solver.preset
  r["preset"]["task"] = s.task->name;
  r["solver"] = solver_json(s, e);
  r["operator"] = operator_options_json(s.op);
  r["tiling"] = e ? e->tiling->report() : json(nullptr);
  r["settings"] = s.to_json(p.shard);
  r["model"] = model_json(s, e);
  r["device"] = e ? json(e->backend->name()) : json(nullptr);
  r["host_cpu"] = cpu_model_name();
  r["precision"] = dtype_name(s.model.precision());
  r["timings"] = {{"load_s", e ? e->load_s : 0.0},
                  {"solve_s", t.solve_s},
                  {"total_s", total_s},
                  {"steps_per_s", t.solve_s > 0 ? json(double(t.steps_run) / t.solve_s) : json(nullptr)},
                  {"images_per_s", t.solve_s > 0 ? json(double(t.restored) / t.solve_s) : json(nullptr)}};
  r["memory"] = memory_json(e, t);
  r["images"] = images_json(p);
  r["counts"] = {{"images", p.items.size()}, {"restored", t.restored}, {"skipped", m.skipped}, {"failed", t.failed}};
  r["metrics"] = s.measure
                     ? json{{"psnr", number_or_null(m.psnr)}, {"ssim", number_or_null(m.ssim)}, {"count", m.scored}}
                     : json(nullptr);
  make_directories(parent_directory(s.json));
  write_file_atomic(s.json, r.dump(1) + "\n");
}

}  // namespace

void report_restore(const RestoreSettings& s, const RestorePlan& p, const RestoreEngine* engine, const RestoreTotals& t,
                    std::chrono::steady_clock::time_point t_start, int argc, char** argv) {
  const Summary m = summarize(p);
  if (!p.batch && !s.csv.empty()) write_single_csv(s.csv, p.items[0]);
  if (p.batch && !s.quiet) print_summary(s, p, t, m);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (!s.json.empty()) write_json(s, p, engine, t, m, total_s, argc, argv);
}

}  // namespace reddiff
