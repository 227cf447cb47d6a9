// The per-task defaults. Starting points are the official RED-diff scripts' values
// (../shared/reference/reddiff-reference.md section 4); inpaint, sr, deblur and denoise were then chosen by
// scripts/tune-presets on the eight validation photos with the bundled model (docs/tasks.md, "Presets",
// raw results in docs/gpu-runs/tune-a3f5270). The official code uses 1000 diffusion steps in its batch
// scripts and 50 in its default config; 100 is the README's example and our default everywhere.
#include "tool/task_presets.h"

#include "base/error.h"

namespace reddiff {

const std::vector<TaskPreset>& task_presets() {
  static const std::vector<TaskPreset> p = {
      {"inpaint", 100, 0.5, 0.1, "linear", "fill the holes of a photo (--mask box|random|half|freeform|FILE)",
       "validation sweep of the retrained model: lambda 0.1, lr 0.5, best for a 96x96 box and within 0.4 dB of "
       "the best for 25 % free-form masks (official README example in2_20ff: lambda 0.25, lr 0.5)"},
      {"sr", 100, 0.3, 0.05, "linear", "super-resolution: upscale a small image by --scale",
       "validation sweep, x4 pooling: lambda 0.05, lr 0.3 (official sample_test.sh sr4: lambda 0.25, lr 0.1)"},
      {"deblur", 100, 0.3, 0.1, "linear", "remove a known blur (--blur gaussian|uniform|motion|FILE)",
       "validation sweep, gaussian sigma 3 with sigma_y 0.01: lambda 0.1, lr 0.3"},
      {"colorize", 100, 0.5, 0.25, "linear", "colourise a grey photo",
       "no official script; the base lambda 0.25 with the lr 0.5 of the other linear tasks (untuned)"},
      {"denoise", 100, 0.3, 4.0, "linear", "remove Gaussian or Poisson noise (--sigma-y)",
       "validation sweep at sigma_y 0.1: lambda 4, lr 0.3 (no official script; lambda 2 loses 1.5 dB, 16 over-smooths)"},
      {"phase-retrieval", 100, 0.5, 0.25, "linear", "recover an image from its Fourier magnitudes",
       "official sample_test.sh phase_retrieval: lambda 0.25, lr 0.5 (untuned)"},
      {"hdr", 100, 0.5, 0.25, "linear", "recover the clipped highlights of y = clip(2x)",
       "official sample_test.sh hdr: lambda 0.25, lr 0.5 (untuned)"},
  };
  return p;
}

const TaskPreset& task_preset(const std::string& task) {
  for (const auto& p : task_presets())
    if (p.task == task) return p;
  throw Error("unknown task '" + task + "'");
}

const std::vector<std::string>& restore_algorithms() {
  static const std::vector<std::string> a = {"reddiff", "dps", "pigdm", "ddrm"};
  return a;
}

// DPS: DPS2022/diffusion-posterior-sampling configs/diffusion_config.yaml (1000 DDPM steps) and the
// conditioning scale of configs/<task>_config.yaml. PiGDM: NVlabs/RED-diff _configs/algo/pgdm.yaml
// (grad_term_weight 1) with sample_test.sh's pgdm lines (eta 1.0, num_steps 100), and algos/pgdm.py's
// contrast weight 1500 for hdr. DDRM: bahjat-kawar/ddrm main.py's --eta 0.85 and --etaB 1 defaults with the
// README's --timesteps 20. None of these were tuned on the bundled model.
const AlgoPreset& algo_preset(const std::string& algo, const std::string& task) {
  static const std::vector<AlgoPreset> p = {
      {"dps", "inpaint", 1000, 0.5, 0, 0, "DPS configs/inpainting_config.yaml scale 0.5, diffusion_config.yaml 1000 steps"},
      {"dps", "sr", 1000, 0.3, 0, 0, "DPS configs/super_resolution_config.yaml scale 0.3, 1000 steps"},
      {"dps", "deblur", 1000, 0.3, 0, 0, "DPS configs/gaussian_deblur_config.yaml and motion_deblur_config.yaml scale 0.3, 1000 steps"},
      {"dps", "colorize", 1000, 0.5, 0, 0, "no DPS config; the README example's scale 0.5 (untuned), 1000 steps"},
      {"dps", "denoise", 1000, 0.5, 0, 0, "no DPS config; the README example's scale 0.5 (untuned), 1000 steps"},
      {"dps", "phase-retrieval", 1000, 1.0, 0, 0, "DPS configs/phase_retrieval_config.yaml scale 1.0, 1000 steps"},
      {"dps", "hdr", 1000, 0.5, 0, 0, "no DPS config; the README example's scale 0.5 (untuned), 1000 steps"},
  };
  static const AlgoPreset pigdm = {"pigdm", "", 100, 1.0, 1.0, 0,
                                   "RED-diff pgdm.yaml grad_term_weight 1; sample_test.sh pgdm lines: eta 1.0, 100 steps"};
  static const AlgoPreset pigdm_hdr = {"pigdm", "hdr", 100, 1.0, 1.0, 1500,
                                       "RED-diff pgdm.yaml grad_term_weight 1; sample_test.sh pgdm lines: eta 1.0, 100 "
                                       "steps; algos/pgdm.py's hdr contrast weight 1500"};
  static const AlgoPreset ddrm = {"ddrm", "", 20, 0, 0.85, 0,
                                  "bahjat-kawar/ddrm main.py: --eta 0.85, --etaB 1 (defaults), --timesteps 20 (README runs)",
                                  1.0};
  task_preset(task);  // an unknown task throws
  if (algo == "pigdm") return task == "hdr" ? pigdm_hdr : pigdm;
  if (algo == "ddrm") return ddrm;
  for (const auto& a : p)
    if (a.algo == algo && a.task == task) return a;
  throw Error("no " + algo + " preset for task '" + task + "'");
}

}  // namespace reddiff
