// NumPy .npy files (format versions 1.0-3.0): read little-endian float32/float64/float16/int64/int32/uint8
// arrays (C or Fortran order) into C-ordered float or int64 buffers; write float32 arrays. Big-endian
// data and other dtypes are refused with a message naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace reddiff {

struct NpyArray {
  std::vector<int64_t> shape;
  std::string descr;            // as stored, e.g. "<f4"
  std::vector<float> data;      // float arrays (f2/f4/f8 converted to float32)
  std::vector<int64_t> idata;   // integer arrays (i4/i8/u1)
  bool is_integer = false;
  int64_t numel() const;
};

NpyArray read_npy(const std::string& path);
// Writes atomically (temporary file, then rename).
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace reddiff
