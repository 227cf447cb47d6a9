// The one helper header of the GPU tests (tests/cuda): the quick-mode switch, one CUDA backend for the whole
// test program, device arrays on a backend (poisoned when made empty, so that an element nobody writes is
// caught as NaN), error measures, and the small random-model configurations the network and VJP tests
// share. Memory goes through the Backend (engine/backend.h), as everywhere else. The kernel twins are
// compared by the table in backend_ops.cpp, which needs none of this.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <cuda_runtime.h>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/model_config.h"

namespace reddiff_gpu_test {

// REDDIFF_GPU_QUICK=1 (used under compute-sanitizer) drops the large cases.
inline bool quick() {
  const char* q = std::getenv("REDDIFF_GPU_QUICK");
  return q && *q && std::strcmp(q, "0") != 0;
}

inline int cpu_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 2;
}

// One CUDA backend (device 0) for the whole test program: operators made on the GPU take it, and it
// outlives them all.
inline reddiff::Backend& gpu_backend() {
  static const std::unique_ptr<reddiff::Backend> b = reddiff::make_cuda_backend(0);
  return *b;
}

// n elements of T on a backend's device (the GPU tests' one device array): poisoned (every byte 0xFF: NaN in
// every float format) or a copy of a host vector. host() waits for all work on the device, then downloads.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t count, reddiff::Backend& be = gpu_backend()) : n(count), be_(be) {
    p = static_cast<T*>(be_.alloc(std::max<size_t>(n, 1) * sizeof(T)));
    std::vector<uint8_t> poison(std::max<size_t>(n, 1) * sizeof(T), 0xFF);
    be_.upload(p, poison.data(), poison.size());
  }
  explicit DeviceArray(const std::vector<T>& v, reddiff::Backend& be = gpu_backend()) : DeviceArray(v.size(), be) {
    if (!v.empty()) be_.upload(p, v.data(), v.size() * sizeof(T));
  }
  ~DeviceArray() { be_.free(p); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  std::vector<T> host() const {
    if (cudaDeviceSynchronize() != cudaSuccess) throw reddiff::Error("cudaDeviceSynchronize failed", 1);
    std::vector<T> v(n);
    if (n) be_.download(v.data(), p, n * sizeof(T));
    return v;
  }

  T* p = nullptr;
  size_t n = 0;

 private:
  reddiff::Backend& be_;
};

// Uniform values in [-1, 1) from seed.
inline std::vector<float> uniform(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

inline bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}
inline double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, double(std::fabs(v)));
  return m;
}
inline double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}
// max |a - b| / (1 + |b|): for values such as (U^T y)/s that reach 10^4 where s is small.
inline double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])) / (1.0 + std::fabs(b[i])));
  return m;
}

// Small random-weight UNets covering the architecture options, 32x32, model_channels 32:
//   0: legacy attention order, scale-shift norm, resblock up/down, learned sigma (6 output channels)
//   1: new attention order, add-bias norm, conv resampling, 10 classes, 16 channels per head, 3 outputs
//   2: avg-pool / nearest resampling without convs, two res blocks, 4 heads (2 on the way up)
inline reddiff::ModelConfig small_adm_config(int variant) {
  reddiff::ModelConfig c;
  c.arch = "adm";
  reddiff::AdmConfig& a = c.adm;
  a.image_size = 32;
  a.in_channels = 3;
  a.model_channels = 32;
  a.channel_mult = {1, 2, 2};
  a.num_res_blocks = 1;
  a.attention_resolutions = {16, 8};
  a.num_heads = 2;
  a.learn_sigma = true;
  a.out_channels = 6;
  if (variant == 1) {
    a.use_new_attention_order = true;
    a.use_scale_shift_norm = false;
    a.resblock_updown = false;
    a.conv_resample = true;
    a.num_head_channels = 16;
    a.num_classes = 10;
    a.learn_sigma = false;
    a.out_channels = 3;
  } else if (variant == 2) {
    a.resblock_updown = false;
    a.conv_resample = false;
    a.num_res_blocks = 2;
    a.channel_mult = {1, 1, 2};
    a.attention_resolutions = {8};
    a.num_heads = 4;
    a.num_heads_upsample = 2;
  }
  return c;
}

}  // namespace reddiff_gpu_test
