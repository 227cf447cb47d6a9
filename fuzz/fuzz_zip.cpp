// libFuzzer target: the zip container of torch >= 1.6 checkpoints (weights_converter/zip_archive.cpp over
// libzip): every entry read whole (any compression, up to 1 MiB) and, when stored, in slices as tensor
// data is read; then the whole file as a checkpoint (fuzz/checkpoint_harness.h).
#include <algorithm>

#include "base/error.h"
#include "fuzz/checkpoint_harness.h"
#include "fuzz/fuzz_input.h"
#include "weights_converter/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = reddiff_fuzz::write_input("zip", ".pt", data, size);
  try {
    auto z = reddiff::ZipArchive::open(path);
    uint8_t slice[64];
    for (const auto& e : z->entries()) {
      if (z->find(e.name) == nullptr) std::abort();
      try {
        std::vector<uint8_t> all = z->read_all(e, 1 << 20);
        if (all.size() != e.size) std::abort();
      } catch (const reddiff::Error&) {}
      try {
        for (uint64_t off : {uint64_t(0), e.size / 2, e.size > 8 ? e.size - 8 : 0}) {
          const uint64_t n = std::min<uint64_t>(sizeof slice, e.size - off);
          z->read(e, off, n, slice);
        }
      } catch (const reddiff::Error&) {}
    }
  } catch (const reddiff::Error&) {}
  try {
    reddiff_fuzz::exercise_checkpoint(path);
  } catch (const reddiff::Error&) {}
  return 0;
}
