// RAII owner of one backend allocation (host memory on the CPU backend, device memory on CUDA): the
// network's scratch, the solvers' buffers and the operators' tables and scratch.
#pragma once
#include <cstddef>
#include <vector>

#include "engine/backend.h"

namespace reddiff {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& b, size_t bytes) : b_(&b), bytes_(bytes), p_(bytes ? b.alloc(bytes) : nullptr) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : b_(o.b_), bytes_(o.bytes_), p_(o.p_) { o.p_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      b_ = o.b_, bytes_ = o.bytes_, p_ = o.p_;
      o.p_ = nullptr;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  // A buffer holding a copy of v (uploaded synchronously).
  template <typename T>
  static DeviceBuffer from_host(Backend& b, const std::vector<T>& v) {
    DeviceBuffer d(b, v.size() * sizeof(T));
    if (!v.empty()) b.upload(d.p_, v.data(), v.size() * sizeof(T));
    return d;
  }
  void reset() {
    if (p_) b_->free(p_);
    p_ = nullptr;
  }
  void* get() const { return p_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  size_t bytes() const { return bytes_; }

 private:
  Backend* b_ = nullptr;
  size_t bytes_ = 0;
  void* p_ = nullptr;
};

}  // namespace reddiff
