// The settings of one restoration run (`reddiff TASK [options] IN OUT`): every option, declared for --help,
// read and checked once (RestoreSettings::from: nothing is opened, read or written yet), and printed into the
// --json report. Groups: the model and device (ModelSettings), the solver (tool/solver_options.h), the
// degradation (tool/operator_options.h) and the inputs and outputs (here).
#pragma once
#include <cxxopts.hpp>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "operators/operator.h"
#include "tool/batch_io.h"
#include "tool/model_settings.h"
#include "tool/solver_options.h"
#include "tool/tasks.h"
#include "tool/tile_options.h"

namespace reddiff {

struct RestoreSettings {
  const TaskSpec* task = nullptr;
  std::string in, out;   // IN (an image, a folder or a .txt list) and OUT (an image or a folder)
  bool measure = false;  // IN is clean: y = A(IN) + noise is made here and the result scored
  bool overwrite = false, quiet = false;
  std::string save_measurement, json, csv;  // empty: not asked for
  bool has_image_id = false;
  uint64_t image_id = 0;  // --image-id (a single image)
  bool has_shard = false;
  Shard shard;  // --shard (a batch; else SLURM's array variables)
  int batch_size = 1, save_every = 0;
  int out_bits = 8;   // --out-bits: 8 or 16 bits per channel in the PNGs written
  TileSettings tile;  // --tile, --tile-overlap (tool/tile_options.h)
  ModelSettings model;
  OperatorOptions op;
  SolverChoice solver;

  // "reddiff TASK: ", the prefix of every line the run prints.
  std::string prefix() const { return "reddiff " + task->name + ": "; }

  // The option groups of --help, in order.
  static const std::vector<std::string>& help_groups();
  static void declare(cxxopts::Options& opts, const TaskSpec& task);
  // Reads and checks every option (a one-line reddiff::Error naming the option): degradation, then --algo
  // and the solver's options (an algorithm that cannot solve the task is refused here), then the model and
  // device, then the inputs and outputs. IN and OUT must be given.
  static RestoreSettings from(const cxxopts::ParseResult& r, const TaskSpec& task);
  // The report's "settings": batch size, device, precision, threads, save-every, overwrite, the shard used.
  nlohmann::json to_json(const Shard& shard_used) const;
};

}  // namespace reddiff
