// RAII owner of one backend allocation (host memory on the CPU backend, device memory on CUDA).
#pragma once
#include <cstddef>

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
  void reset() {
    if (p_) b_->free(p_);
    p_ = nullptr;
  }
  void* get() const { return p_; }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  Backend* b_ = nullptr;
  size_t bytes_ = 0;
  void* p_ = nullptr;
};

}  // namespace reddiff
