// libFuzzer target: a .npy file read as the tool reads measurements (tool/batch_io.cpp probe_input on the
// header, with the pixel limit) and as every reader reads arrays (engine/npy.cpp read_npy: versions 1-3,
// float16/32/64, int32/64, uint8, C and Fortran order). The array read must match its header.
#include <cstdlib>

#include "base/error.h"
#include "engine/input_limits.h"
#include "engine/npy.h"
#include "fuzz/fuzz_input.h"
#include "tool/batch_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  reddiff::set_max_pixels(reddiff_fuzz::kFuzzMaxPixels, "fuzz");
  const std::string& path = reddiff_fuzz::write_input("npy", ".npy", data, size);
  int c = 0, h = 0, w = 0;
  std::string why;
  (void)reddiff::probe_input(path, &c, &h, &w, &why);
  try {
    const reddiff::NpyHeader hd = reddiff::read_npy_header(path);
    reddiff::NpyArray a = reddiff::read_npy(path);
    if (a.shape != hd.shape) std::abort();
    const size_t n = size_t(a.numel());
    if ((a.is_integer ? a.idata.size() : a.data.size()) != n) std::abort();
    if ((a.is_integer ? a.data.size() : a.idata.size()) != 0) std::abort();
  } catch (const reddiff::Error&) {}
  return 0;
}
