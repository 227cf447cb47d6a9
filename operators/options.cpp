// The degradation operators' option set: the task list and the checks of an OperatorOptions (shared by the
// factories and by the command line, tool/operator_options.cpp).
#include <algorithm>
#include <cmath>
#include <fstream>

#include "base/error.h"
#include "operators/operator.h"

namespace reddiff {

const std::vector<std::string>& operator_tasks() {
  static const std::vector<std::string> t = {"inpaint",         "sr",  "deblur", "colorize", "denoise",
                                             "phase-retrieval", "hdr", "jpeg",   "quant"};
  return t;
}

static bool file_exists(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return bool(f);
}

void validate_operator_options(const OperatorOptions& o) {
  const auto& tasks = operator_tasks();
  if (std::find(tasks.begin(), tasks.end(), o.task) == tasks.end())
    throw Error("unknown task '" + o.task +
                "' (expected inpaint, sr, deblur, colorize, denoise, phase-retrieval, hdr, jpeg or quant)");
  if (!o.compose.empty() && (o.task == "jpeg" || o.task == "quant"))
    throw Error("--compose: " + o.task + " is bound to its measured file and takes no composition");
  for (size_t i = 0; i < o.compose.size(); ++i) {
    const std::string& c = o.compose[i];
    if (c != "inpaint" && c != "deblur" && c != "hdr")
      throw Error("--compose: '" + c +
                  "' cannot come first (expected inpaint, deblur or hdr: operators that keep the image's shape)");
    if (c == o.task ||
        std::find(o.compose.begin(), o.compose.begin() + ptrdiff_t(i), c) != o.compose.begin() + ptrdiff_t(i))
      throw Error("--compose: " + c + " appears twice in the composition (it would read the same options twice)");
    OperatorOptions stage = o;
    stage.task = c;
    stage.compose.clear();
    validate_operator_options(stage);
  }
  auto finite = [](double v) { return std::isfinite(v); };
  if (o.task == "inpaint") {
    const bool kw = o.mask == "box" || o.mask == "random" || o.mask == "half" || o.mask == "freeform";
    if (!kw) {
      if (o.mask.empty()) throw Error("--mask: empty value (expected box, random, half, freeform or a mask file)");
      if (!file_exists(o.mask))
        throw Error("--mask: '" + o.mask + "' is neither box, random, half, freeform nor a readable mask file");
    }
    if (o.box_size < 0)
      throw Error("--box-size must be >= 0 (0: half the short side), got " + std::to_string(o.box_size));
    if (!finite(o.fraction) || o.fraction < 0.0 || o.fraction >= 1.0)
      throw Error("--fraction must be in [0, 1), got " + std::to_string(o.fraction));
    if (o.side != "left" && o.side != "right" && o.side != "top" && o.side != "bottom")
      throw Error("--side: unknown value '" + o.side + "' (expected left, right, top or bottom)");
  }
  if (o.task == "sr") {
    if (o.sr_kernel != "pool" && o.sr_kernel != "bicubic")
      throw Error("--sr-kernel: unknown value '" + o.sr_kernel + "' (expected pool or bicubic)");
    if (o.sr_kernel == "pool" && o.scale != 2 && o.scale != 4 && o.scale != 8)
      throw Error("--scale must be 2, 4 or 8 with --sr-kernel pool, got " + std::to_string(o.scale));
    if (o.sr_kernel == "bicubic" && o.scale != 2 && o.scale != 4)
      throw Error("--scale must be 2 or 4 with --sr-kernel bicubic, got " + std::to_string(o.scale));
  }
  if (o.task == "deblur") {
    const bool kw = o.blur == "gaussian" || o.blur == "uniform" || o.blur == "motion";
    if (!kw) {
      if (o.blur.empty()) throw Error("--blur: empty value (expected gaussian, uniform, motion or a kernel file)");
      if (!file_exists(o.blur))
        throw Error("--blur: '" + o.blur + "' is neither gaussian, uniform, motion nor a readable kernel file");
    }
    if (!finite(o.blur_sigma) || !(o.blur_sigma > 0.0) || o.blur_sigma > 1000.0)
      throw Error("--blur-sigma must be positive, got " + std::to_string(o.blur_sigma));
    if (o.blur_size < 0 || (o.blur_size > 0 && o.blur_size % 2 == 0) || o.blur_size > 4095)
      throw Error("--blur-size must be an odd number of pixels (or 0 for the default), got " +
                  std::to_string(o.blur_size));
    if (!finite(o.motion_intensity) || o.motion_intensity < 0.0 || o.motion_intensity > 1.0)
      throw Error("--motion-intensity must be in [0, 1], got " + std::to_string(o.motion_intensity));
    if (!finite(o.wiener_reg) || !(o.wiener_reg > 0.0))
      throw Error("--wiener-reg must be positive, got " + std::to_string(o.wiener_reg));
  }
  if (o.task == "phase-retrieval" && (!finite(o.oversample) || o.oversample < 0.0 || o.oversample > 64.0))
    throw Error("--oversample must be in [0, 64], got " + std::to_string(o.oversample));
  if (o.task == "jpeg" || o.task == "quant") {
    if (o.data_term != "interval" && o.data_term != "l2")
      throw Error("--data-term: unknown value '" + o.data_term + "' (expected interval or l2)");
    if (o.task == "quant" && (o.quant_bits < 1 || o.quant_bits > 8))
      throw Error("--bits must be in 1..8, got " + std::to_string(o.quant_bits));
    if (o.task == "jpeg" && (o.jpeg_quality < 1 || o.jpeg_quality > 100))
      throw Error("--quality must be in 1..100, got " + std::to_string(o.jpeg_quality));
    if (o.task == "jpeg" && o.jpeg_subsampling != "444" && o.jpeg_subsampling != "422" && o.jpeg_subsampling != "420")
      throw Error("--subsampling: unknown value '" + o.jpeg_subsampling + "' (expected 444, 422 or 420)");
  }
  if (!finite(o.sigma_y) || o.sigma_y < 0.0) throw Error("--sigma-y must be >= 0, got " + std::to_string(o.sigma_y));
  if (o.noise != "gaussian" && o.noise != "poisson")
    throw Error("--noise: unknown value '" + o.noise + "' (expected gaussian or poisson)");
}

}  // namespace reddiff
