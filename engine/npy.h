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
  std::string descr;           // as stored, e.g. "<f4"
  std::vector<float> data;     // float arrays (f2/f4/f8 converted to float32)
  std::vector<int64_t> idata;  // integer arrays (i4/i8/u1)
  bool is_integer = false;
  int64_t numel() const;
};

// The header alone: shape, dtype, order and where the data starts. Checks that the file holds all the data
// the shape declares (so read_npy never allocates more than the file can fill) and that the dtype is one
// read_npy converts. Throws a one-line reddiff::Error naming the file.
struct NpyHeader {
  std::vector<int64_t> shape;
  std::string descr;
  bool fortran_order = false;
  size_t width = 0;          // bytes per element
  uint64_t data_offset = 0;  // of the first element
  int64_t numel() const;
};
// With `pixels` (what the array is, for messages: "mask", "array"), the last two dimensions are pixels and
// are checked against the pixel limit (engine/input_limits.h) first.
NpyHeader read_npy_header(const std::string& path, const std::string& pixels = "");

NpyArray read_npy(const std::string& path);
// read_npy for an array whose last two dimensions are pixels (a mask, a blur kernel): the pixel limit
// (engine/input_limits.h) is checked from the header before the data is read. `what` names it in messages.
NpyArray read_npy_pixels(const std::string& path, const std::string& what);
// Writes atomically (temporary file, then rename).
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace reddiff
