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

// The restoration algorithms of `--algo`, in help order: reddiff (the default), dps, pigdm, ddrm.
const std::vector<std::string>& restore_algorithms();

// Defaults of the other solvers (docs/tasks.md, "Other algorithms" and "DDRM"), per task:
//   dps:   steps, zeta (the official configs' "scale");
//   pigdm: steps, zeta (grad_term_weight), eta, contrast (the hdr objective's std weight);
//   ddrm:  steps, eta (the official --eta), eta_b (the official --etaB); the same for every task it
//          supports (ddrm_supported decides which: not phase-retrieval, hdr, motion/file blur, --compose).
struct AlgoPreset {
  std::string algo, task;
  int steps = 100;
  double zeta = 1.0, eta = 0.0, contrast = 0.0;
  std::string source;
  double eta_b = 0.0;  // ddrm only
};
const AlgoPreset& algo_preset(const std::string& algo, const std::string& task);

}  // namespace reddiff
