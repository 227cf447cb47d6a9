// CUDA events as a StreamTimer, cudaMemGetInfo and the device's properties (engine/cuda/cuda_device_info.h).
#include "engine/cuda/cuda_device_info.h"

#include "base/cuda_check.h"

namespace reddiff {
namespace {

class CudaEventTimer : public StreamTimer {
 public:
  CudaEventTimer(int device, cudaStream_t stream) : device_(device), stream_(stream) {
    RD_CUDA_CHECK(cudaSetDevice(device_));
    RD_CUDA_CHECK(cudaEventCreate(&e0_));
    RD_CUDA_CHECK(cudaEventCreate(&e1_));
  }
  ~CudaEventTimer() override {
    if (e0_) cudaEventDestroy(e0_);
    if (e1_) cudaEventDestroy(e1_);
  }
  CudaEventTimer(const CudaEventTimer&) = delete;
  CudaEventTimer& operator=(const CudaEventTimer&) = delete;

  void start() override { RD_CUDA_CHECK(cudaEventRecord(e0_, stream_)); }
  double stop_ms() override {
    RD_CUDA_CHECK(cudaEventRecord(e1_, stream_));
    RD_CUDA_CHECK(cudaEventSynchronize(e1_));
    float ms = 0;
    RD_CUDA_CHECK(cudaEventElapsedTime(&ms, e0_, e1_));
    return double(ms);
  }

 private:
  int device_;
  cudaStream_t stream_;
  cudaEvent_t e0_ = nullptr, e1_ = nullptr;
};

}  // namespace

std::unique_ptr<StreamTimer> make_cuda_event_timer(int device, cudaStream_t stream) {
  return std::make_unique<CudaEventTimer>(device, stream);
}

bool cuda_memory_info(int device, size_t* free_bytes, size_t* total_bytes) {
  size_t f = 0, t = 0;
  if (cudaSetDevice(device) != cudaSuccess || cudaMemGetInfo(&f, &t) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (free_bytes) *free_bytes = f;
  if (total_bytes) *total_bytes = t;
  return true;
}

std::string cuda_version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

DeviceProperties cuda_device_properties(int device) {
  DeviceProperties d;
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) == cudaSuccess) {
    d.name = p.name;
    d.compute_capability = std::to_string(p.major) + "." + std::to_string(p.minor);
    d.memory_bytes = size_t(p.totalGlobalMem);
    d.multiprocessors = p.multiProcessorCount;
  }
  int driver = 0, runtime = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess) d.driver_version = cuda_version_string(driver);
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) d.runtime_version = cuda_version_string(runtime);
  cudaGetLastError();
  return d;
}

}  // namespace reddiff
