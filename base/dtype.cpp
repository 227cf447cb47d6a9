#include "base/dtype.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace reddiff {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F16:
      return 2;
    case DType::BF16:
      return 2;
    case DType::F64:
      return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::F16:
      return "f16";
    case DType::BF16:
      return "bf16";
    case DType::F64:
      return "f64";
  }
  return "?";
}

const char* dtype_safetensors_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::F64:
      return "F64";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "f32" || l == "float32") {
    *out = DType::F32;
    return true;
  }
  if (l == "f16" || l == "float16" || l == "half") {
    *out = DType::F16;
    return true;
  }
  if (l == "bf16" || l == "bfloat16") {
    *out = DType::BF16;
    return true;
  }
  if (l == "f64" || l == "float64") {
    *out = DType::F64;
    return true;
  }
  return false;
}

static double load_element(const void* src, DType t, size_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(src)[i];
    case DType::F16:
      return half_to_float(static_cast<const uint16_t*>(src)[i]);
    case DType::BF16:
      return bf16_to_float(static_cast<const uint16_t*>(src)[i]);
    case DType::F64:
      return static_cast<const double*>(src)[i];
  }
  return 0;
}

void convert_elements(const void* src, DType src_type, void* dst, DType dst_type, size_t n) {
  if (n == 0) return;  // src and dst may be null (an empty vector's data()), which memcpy must not get
  if (src_type == dst_type) {
    std::memcpy(dst, src, n * dtype_size(src_type));
    return;
  }
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (long long i = 0; i < (long long)n; ++i) {
    double v = load_element(src, src_type, size_t(i));
    switch (dst_type) {
      case DType::F32:
        static_cast<float*>(dst)[i] = float(v);
        break;
      // f64 -> f16 goes through f32 like torch: double rounding is what the reference does too.
      case DType::F16:
        static_cast<uint16_t*>(dst)[i] = float_to_half(float(v));
        break;
      case DType::BF16:
        static_cast<uint16_t*>(dst)[i] = float_to_bf16(float(v));
        break;
      case DType::F64:
        static_cast<double*>(dst)[i] = v;
        break;
    }
  }
}

}  // namespace reddiff
