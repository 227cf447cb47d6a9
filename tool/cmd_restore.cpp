// reddiff TASK [options] IN OUT: restore images with RED-diff (or --algo dps|pigdm|ddrm), one registered command
// per entry of the task table (tool/tasks.cpp), all run by run_restore:
//
//   parse (RestoreSettings: every option read and checked) -> plan (IN listed, outputs checked, batches)
//   -> load (backend, model, network, make_solver) -> run (each batch: measure, solve, write) -> report.
//
//   default mode  IN is the observation y (a photo with holes plus --mask, a small image, a blurred photo, ...);
//   --measure     IN is a clean image: y = A(IN) (+ noise) is made here and the result is scored against IN.
//
// IN may be one image, a folder or a .txt list (batch); OUT is then a folder. docs/usage.md ("Command line").
#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>

#include <cxxopts.hpp>

#include "base/error.h"
#include "tool/cli_common.h"
#include "tool/command.h"
#include "tool/restore_plan.h"
#include "tool/restore_report.h"
#include "tool/restore_run.h"
#include "tool/restore_settings.h"
#include "tool/solver_options.h"
#include "tool/tasks.h"

namespace reddiff {
namespace {

// The text after the options in `reddiff TASK --help`.
std::string epilog(const TaskSpec& task) {
  std::ostringstream s;
  s << "\nDefault mode:\n  " << task.in_help << "\n"
    << "--measure:\n  IN is a clean image; y = A(IN) plus noise (--sigma-y, --noise) is made here (--save-measurement\n"
       "  keeps it) and the result is scored against IN: PSNR and SSIM on [0, 1] (stderr, --json, --csv).\n"
    << "\nPreset for " << task.name << ": " << preset_line(task, Algorithm::RedDiff) << "\n  ("
    << task.preset_source.at(Algorithm::RedDiff) << ")\n"
    << "\n"
    << algorithms_help(task)
    << "\nBatch: IN may be a folder (searched recursively for .png .jpg .jpeg .bmp .tga .gif .ppm .pgm .pnm, and\n"
       "  .npy measurements without --measure) or a .txt list of image paths (relative to the list's folder);\n"
       "  OUT is then a folder (created; sub-folders kept, names ending in .png). Images of one size are restored\n"
       "  --batch-size at a time. Existing outputs are skipped unless --overwrite, so a stopped run resumes. A bad\n"
       "  file is reported, listed in --csv with status 'error: ...', and the run goes on (exit status 3).\n"
       "\nLarge photos: the network runs on overlapping tiles of the model's native size (--tile auto, the default, "
       "for\n"
       "  images over 1.5x that size), --batch-size tiles at a time, blended with smooth weights; the grid shifts "
       "every\n"
       "  step. Memory for the network is that of one batch of tiles; the operators work on the whole image.\n"
       "\nImage ids: masks, kernels, measurement noise and the solver's noise of an image are drawn from (--seed,\n"
       "  id), id = 64-bit FNV-1a hash of the image's name relative to IN (its file name for a single image, or\n"
       "  --image-id), so a result does not depend on --batch-size, --shard or the other images of a batch.\n"
       "\nExit status: 0 done, 1 runtime failure, 2 bad input or option, 3 some images of a batch failed.\n"
       "\nExamples:\n";
  for (const auto& e : task.examples) s << "  " << e << "\n";
  s << "  reddiff " << task.name << " --measure --batch-size 4 --csv scores.csv --shard 0/8 dataset/ results/\n";
  return s.str();
}

cxxopts::Options make_options(const TaskSpec& task) {
  cxxopts::Options opts("reddiff " + task.name,
                        "Restore images with RED-diff (or --algo dps|pigdm|ddrm): " + task.summary + ".");
  opts.custom_help("[options]");
  opts.positional_help("IN OUT");
  RestoreSettings::declare(opts, task);
  return opts;
}

// The settings, or none when --help was asked for (and printed).
std::optional<RestoreSettings> parse(const TaskSpec& task, int argc, char** argv) {
  cxxopts::Options opts = make_options(task);
  const cxxopts::ParseResult r = parse_or_throw(opts, argc, argv, "reddiff " + task.name + " --help");
  if (r.count("help")) {
    std::printf("%s%s", opts.help(RestoreSettings::help_groups()).c_str(), epilog(task).c_str());
    return std::nullopt;
  }
  return RestoreSettings::from(r, task);
}

int run_restore(const TaskSpec& task, int argc, char** argv) {
  const auto t_start = std::chrono::steady_clock::now();
  const std::optional<RestoreSettings> s = parse(task, argc, argv);
  if (!s) return 0;
  RestorePlan plan = plan_restore(*s);
  std::optional<RestoreEngine> engine;
  if (!plan.batches.empty()) engine = load_engine(*s);  // nothing to restore (all done or unreadable): no model
  const RestoreTotals totals = run_restore_plan(*s, plan, engine ? &*engine : nullptr);
  report_restore(*s, plan, engine ? &*engine : nullptr, totals, t_start, argc, argv);
  return totals.failed > 0 ? 3 : 0;
}

// One command per task of the table.
const bool registered = [] {
  for (const TaskSpec& t : tasks())
    CommandRegistration(
        t.name, t.summary, [&t](int argc, char** argv) { return run_restore(t, argc, argv); }, t.order);
  return true;
}();

}  // namespace
}  // namespace reddiff
