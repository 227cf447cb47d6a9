// Tensor: a typed, shaped view of memory on one device. Tensors never own memory; storage comes from
// a model's weight buffers, the plan's activation arena, or a caller (HostBuffer / DeviceBuffer).
// Also the device enum, the NCHW batch shape and the stream handle that every layer passes around.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace reddiff {

enum class Device { CPU, CUDA };
const char* device_name(Device d);

using Stream = void*;  // cudaStream_t for CUDA code, ignored by CPU code

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  std::vector<int64_t> shape;

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  int64_t dim(int i) const { return shape[size_t(i < 0 ? int(shape.size()) + i : i)]; }
  int rank() const { return int(shape.size()); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

// NCHW image-batch shape, the currency of operators and solvers.
struct Shape4 {
  int n = 1, c = 3, h = 0, w = 0;
  int64_t numel() const { return int64_t(n) * c * h * w; }
  int64_t image_numel() const { return int64_t(c) * h * w; }
  bool operator==(const Shape4& o) const { return n == o.n && c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape4& o) const { return !(*this == o); }
  std::string str() const;
};

}  // namespace reddiff
