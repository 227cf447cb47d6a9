// Typed element access for the CPU twins: f32, f16 and bf16 storage, f32 math.
#pragma once
#include <cstdint>

#include "base/dtype.h"
#include "base/error.h"

namespace reddiff {

struct F32Storage {
  using T = float;
  static float load(const T* p, int64_t i) { return p[i]; }
  static void store(T* p, int64_t i, float v) { p[i] = v; }
};
struct F16Storage {
  using T = uint16_t;
  static float load(const T* p, int64_t i) { return half_to_float(p[i]); }
  static void store(T* p, int64_t i, float v) { p[i] = float_to_half(v); }
};
struct BF16Storage {
  using T = uint16_t;
  static float load(const T* p, int64_t i) { return bf16_to_float(p[i]); }
  static void store(T* p, int64_t i, float v) { p[i] = float_to_bf16(v); }
};

// Calls f(StorageTag{}) for the storage of dtype t.
template <typename F>
void dispatch_storage(DType t, F&& f) {
  switch (t) {
    case DType::F32:
      f(F32Storage{});
      return;
    case DType::F16:
      f(F16Storage{});
      return;
    case DType::BF16:
      f(BF16Storage{});
      return;
    default:
      throw Error(std::string("kernel: unsupported dtype ") + dtype_name(t), 1);
  }
}

}  // namespace reddiff
