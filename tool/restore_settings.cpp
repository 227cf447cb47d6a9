// RestoreSettings: the options of `reddiff TASK`, declared, read and checked in one place.
#include "tool/restore_settings.h"

#include "base/error.h"
#include "engine/input_limits.h"
#include "tool/cli_common.h"
#include "tool/operator_options.h"

namespace reddiff {

const std::vector<std::string>& RestoreSettings::help_groups() {
  static const std::vector<std::string> g = {"", "Model and device", "Solver", "Degradation", "Input and output"};
  return g;
}

void RestoreSettings::declare(cxxopts::Options& opts, const TaskSpec& task) {
  opts.add_options()("in", "input image, folder or .txt list", cxxopts::value<std::string>())(
      "out", "output image (.png) or folder", cxxopts::value<std::string>())("h,help", "show this help");
  ModelSettings::declare(opts, "Model and device");
  opts.add_options("Model and device")("batch-size", "images restored together (images of one size only)",
                                       cxxopts::value<std::string>()->default_value("1"), "N");
  add_tile_options(opts);  // --tile, --tile-overlap
  add_solver_options(opts, task);
  add_operator_options(opts);  // group "Degradation"; its --seed also seeds the solver
  opts.add_options("Input and output")("measure",
                                       "IN is a clean image: make y here and score the result against IN (PSNR, SSIM)")(
      "save-measurement", "with --measure: write y to FILE (.png or .npy; a folder in batch mode)",
      cxxopts::value<std::string>(),
      "FILE")("image-id", "single image: its id (default: hash of its file name; `reddiff degrade` uses 0)",
              cxxopts::value<std::string>(),
              "N")("json", "write a report (settings, model, device, timings, memory, metrics) to FILE",
                   cxxopts::value<std::string>(), "FILE")(
      "csv", "write one row per image (file,status,psnr,ssim,seconds) to FILE", cxxopts::value<std::string>(), "FILE")(
      "save-every", "write mu every K steps as OUTSTEM_trajectory/step_NNNN.png (0: never)",
      cxxopts::value<std::string>()->default_value("0"),
      "K")("shard",
           "restore only the images at sorted positions = I mod N (default: SLURM_ARRAY_TASK_ID / "
           "SLURM_ARRAY_TASK_COUNT when set)",
           cxxopts::value<std::string>(),
           "I/N")("out-bits", "bits per channel of the PNGs written, 8|16 (16 keeps fine steps: smooth gradients)",
                  cxxopts::value<std::string>()->default_value("8"),
                  "B")("overwrite", "replace existing outputs (default: skip them)")(
      "q,quiet", "no progress bar and no per-image lines (errors are still printed)");
  add_max_pixels_option(opts, "Input and output", kRestoreBytesPerPixel);
  opts.parse_positional({"in", "out"});
}

RestoreSettings RestoreSettings::from(const cxxopts::ParseResult& r, const TaskSpec& task) {
  RestoreSettings s;
  s.task = &task;
  const std::string see = " (see reddiff " + task.name + " --help)";
  if (!r.unmatched().empty()) throw Error("unexpected argument '" + r.unmatched().front() + "'" + see);
  if (!r.count("in") || !r.count("out")) throw Error("missing IN or OUT" + see);
  s.in = r["in"].as<std::string>();
  s.out = r["out"].as<std::string>();

  apply_max_pixels(r, kRestoreBytesPerPixel);
  s.op = operator_options_from(r, task.name);
  s.solver = solver_choice_from(r, task, s.op.seed);
  std::string why;
  if (!algorithm_supports(s.solver.algo, s.op, &why)) throw Error(why);
  s.model = ModelSettings::from(r);

  s.batch_size = int(option_integer(r, "batch-size", 1, 4096));
  s.tile = tile_settings_from(r);
  s.save_every = int(option_integer(r, "save-every", 0, 100000));
  s.out_bits = int(option_integer(r, "out-bits", 8, 16));
  if (s.out_bits != 8 && s.out_bits != 16) throw Error("--out-bits must be 8 or 16, got " + std::to_string(s.out_bits));
  s.measure = r.count("measure") > 0;
  s.overwrite = r.count("overwrite") > 0;
  s.quiet = r.count("quiet") > 0;
  if (r.count("save-measurement")) {
    if (!s.measure) throw Error("--save-measurement needs --measure (without it, IN is the measurement)");
    s.save_measurement = r["save-measurement"].as<std::string>();
  }
  if (r.count("json")) s.json = r["json"].as<std::string>();
  if (r.count("csv")) s.csv = r["csv"].as<std::string>();
  if ((s.has_image_id = r.count("image-id") > 0)) s.image_id = option_unsigned(r, "image-id");
  if ((s.has_shard = r.count("shard") > 0)) s.shard = parse_shard(r["shard"].as<std::string>());
  return s;
}

nlohmann::json RestoreSettings::to_json(const Shard& shard_used) const {
  nlohmann::json j = model.to_json();
  j["batch_size"] = batch_size;
  j["save_every"] = save_every;
  j["out_bits"] = out_bits;
  j["overwrite"] = overwrite;
  j["shard"] = shard_used.str();
  j["shard_from_slurm"] = shard_used.from_env;
  j["save_measurement"] = save_measurement.empty() ? nlohmann::json(nullptr) : nlohmann::json(save_measurement);
  j["csv"] = csv.empty() ? nlohmann::json(nullptr) : nlohmann::json(csv);
  return j;
}

}  // namespace reddiff
