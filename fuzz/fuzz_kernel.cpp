// libFuzzer target: a blur-kernel file (--blur FILE: an image, mean of its colour channels, or a 2-d .npy
// array; normalised to sum 1) through the operators' loader, operators/blur_kernels.cpp make_blur_kernels.
// Input: byte 0 picks .npy (bit 0); bytes 1 and 2 are the image's height and width (1-128); the rest is the
// file. An accepted kernel must fit the image, be finite and sum to 1 (to float rounding).
#include <cmath>
#include <cstdlib>

#include "base/error.h"
#include "engine/input_limits.h"
#include "fuzz/fuzz_input.h"
#include "operators/operator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  reddiff::set_max_pixels(reddiff_fuzz::kFuzzMaxPixels, "fuzz");
  const bool npy = data[0] & 1;
  reddiff::OperatorOptions o;
  o.task = "deblur";
  const reddiff::Shape4 x{2, 3, 1 + data[1] % 128, 1 + data[2] % 128};
  o.blur = reddiff_fuzz::write_input("kernel", npy ? ".npy" : ".png", data + 3, size - 3);
  try {
    reddiff::BlurKernels k = reddiff::make_blur_kernels(o, x, {1, 2});
    if (k.kh < 1 || k.kw < 1 || k.kh > x.h || k.kw > x.w || k.k.size() != size_t(x.n) * k.kh * k.kw) std::abort();
    double sum = 0.0, l1 = 0.0;
    for (size_t i = 0; i < size_t(k.kh) * k.kw; ++i) {
      if (!std::isfinite(k.k[i])) std::abort();
      sum += k.k[i];
      l1 += std::fabs(k.k[i]);
    }
    if (std::fabs(sum - 1.0) > 1e-4 * l1) std::abort();
  } catch (const reddiff::Error&) {}
  return 0;
}
