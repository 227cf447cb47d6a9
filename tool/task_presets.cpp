// The per-task defaults. Starting points taken from the official RED-diff scripts
// (../shared/reference/reddiff-reference.md section 4); they are to be tuned on validation images and the
// choice recorded in docs/tasks.md. The official code uses 1000 diffusion steps in its batch scripts and
// 50 in its default config; 100 is the README's example and our default everywhere.
#include "tool/task_presets.h"

#include "engine/error.h"

namespace reddiff {

const std::vector<TaskPreset>& task_presets() {
  static const std::vector<TaskPreset> p = {
      {"inpaint", 100, 0.5, 0.25, "linear", "fill the holes of a photo (--mask box|random|half|freeform|FILE)",
       "official README example in2_20ff: lambda 0.25, lr 0.5, 100 steps (untuned)"},
      {"sr", 100, 0.1, 0.25, "linear", "super-resolution: upscale a small image by --scale",
       "official sample_test.sh sr4: lambda 0.25, lr 0.1 (untuned)"},
      {"deblur", 100, 0.5, 0.25, "linear", "remove a known blur (--blur gaussian|uniform|motion|FILE)",
       "official sample_test.sh deblur_gauss/deblur_nl: lambda 0.25, lr 0.5 (untuned)"},
      {"colorize", 100, 0.5, 0.25, "linear", "colourise a grey photo",
       "no official script; the base lambda 0.25 with the lr 0.5 of the other linear tasks (untuned)"},
      {"denoise", 100, 0.5, 0.25, "linear", "remove Gaussian or Poisson noise (--sigma-y)",
       "no official script; the base lambda 0.25 with the lr 0.5 of the other linear tasks (untuned)"},
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

}  // namespace reddiff
