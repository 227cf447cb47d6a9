// Per-task default solver settings of the restoration commands (reddiff inpaint, sr, ...): the one table
// of them, in task_presets.cpp, with where each value comes from. Every value can be overridden on the
// command line (--steps --lr --lambda --weighting); --json records the preset that was used.
#pragma once
#include <string>
#include <vector>

namespace reddiff {

struct TaskPreset {
  std::string task;       // inpaint|sr|deblur|colorize|denoise|phase-retrieval|hdr
  int steps = 100;
  double lr = 0.5;
  double lambda = 0.25;
  std::string weighting = "linear";
  std::string summary;    // one line for the command list of `reddiff --help`
  std::string source;     // provenance of the values
};

// The preset of a task; throws reddiff::Error for an unknown task.
const TaskPreset& task_preset(const std::string& task);
const std::vector<TaskPreset>& task_presets();

}  // namespace reddiff
