// libFuzzer target: a mask file (--mask FILE: an image, grey >= 0.5 keeps, or a .npy array, > 0.5 keeps)
// through the operators' loader, operators/masks.cpp make_inpaint_masks, for a small image batch.
// Input: byte 0 picks .npy (bit 0) and --invert (bit 1); bytes 1 and 2 are the image's height and width
// (1-64); the rest is the file. Every mask value must be 0 or 1.
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
  o.task = "inpaint";
  o.invert = data[0] & 2;
  const reddiff::Shape4 x{2, 3, 1 + data[1] % 64, 1 + data[2] % 64};
  o.mask = reddiff_fuzz::write_input("mask", npy ? ".npy" : ".png", data + 3, size - 3);
  try {
    std::vector<float> m = reddiff::make_inpaint_masks(o, x, {1, 2});
    if (m.size() != size_t(x.n) * x.h * x.w) std::abort();
    for (float v : m)
      if (v != 0.0f && v != 1.0f) std::abort();
  } catch (const reddiff::Error&) {}
  return 0;
}
