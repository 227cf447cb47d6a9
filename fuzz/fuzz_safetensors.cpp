// libFuzzer target: the safetensors reader (engine/safetensors.cpp) on arbitrary bytes. Every tensor it
// accepts must lie inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "base/error.h"
#include "engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = reddiff::SafeTensorsFile::from_memory(data, size, "fuzz");
    volatile uint8_t sink = 0;
    for (const auto& t : f->tensors()) {
      const uint8_t* p = static_cast<const uint8_t*>(f->data(t));
      if (p < data || p + t.nbytes > data + size) std::abort();
      if (t.nbytes) sink = sink ^ p[0] ^ p[t.nbytes - 1];
      (void)f->find(t.name);
    }
    for (const auto& kv : f->metadata()) sink = sink ^ uint8_t(kv.first.size() + kv.second.size());
    (void)sink;
  } catch (const reddiff::Error&) {}
  return 0;
}
