// libFuzzer target: legacy torch checkpoints (torch.save(..., _use_new_zipfile_serialization=False):
// pickles back to back, then raw storages; weights_converter/legacy_checkpoint.cpp), opened and read as
// the converter does (fuzz/checkpoint_harness.h).
#include "base/error.h"
#include "fuzz/checkpoint_harness.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = reddiff_fuzz::write_input("legacy", ".pt", data, size);
  try {
    reddiff_fuzz::exercise_checkpoint(path);
  } catch (const reddiff::Error&) {}
  return 0;
}
