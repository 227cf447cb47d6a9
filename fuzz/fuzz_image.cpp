// libFuzzer target: an image file read as the restoration commands read one: the header probe that sizes
// and batches it (tool/batch_io.cpp probe_input, with the pixel limit), then the decode into RGB
// (engine/image_io.cpp load_image_rgb, stb_image underneath: PNG, JPEG, BMP, GIF, PNM, TGA, 8 and 16 bits,
// grey, grey+alpha, RGB, RGBA). A decoded image must have the size its header declared.
#include <cstdlib>

#include "base/error.h"
#include "engine/image_io.h"
#include "engine/input_limits.h"
#include "fuzz/fuzz_input.h"
#include "tool/batch_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  reddiff::set_max_pixels(reddiff_fuzz::kFuzzMaxPixels, "fuzz");
  const std::string& path = reddiff_fuzz::write_input("image", ".png", data, size);
  int c = 0, h = 0, w = 0;
  std::string why;
  if (!reddiff::probe_input(path, &c, &h, &w, &why)) return 0;
  try {
    reddiff::Image img = reddiff::load_image_rgb(path, true);
    if (img.c != 3 || img.h != h || img.w != w || img.data.size() != size_t(3) * h * w) std::abort();
    for (float v : img.data)
      if (!(v >= -1.0f && v <= 1.0f)) std::abort();
  } catch (const reddiff::Error&) {}
  return 0;
}
