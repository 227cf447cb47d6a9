// The CUDA driver, runtime and cuDNN versions found at run time (and device 0), for `reddiff --version`.
// Never throws: a machine without an NVIDIA driver or device gets a line saying so.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "engine/backend.h"
#include "engine/cuda/cuda_device_info.h"

namespace reddiff {

namespace {
// cuDNN 9 encodes 10000*major + 100*minor + patch; cuDNN 8 and older 1000*major + 100*minor + patch.
std::string cudnn_version_string(size_t v) {
  const size_t major_unit = v >= 90000 ? 10000 : 1000;
  return std::to_string(v / major_unit) + "." + std::to_string(v % major_unit / 100) + "." + std::to_string(v % 100);
}
}  // namespace

std::string cuda_versions() {
  int driver = 0, runtime = 0;
  std::string t = "driver ";
  t += cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0 ? cuda_version_string(driver)
                                                                  : std::string("none found (no NVIDIA driver)");
  cudaGetLastError();
  t += ", runtime ";
  t += cudaRuntimeGetVersion(&runtime) == cudaSuccess ? cuda_version_string(runtime) : std::string("unknown");
  cudaGetLastError();
  t += ", cuDNN " + cudnn_version_string(cudnnGetVersion());
  t += " (built with CUDA " + cuda_version_string(CUDART_VERSION) + ", cuDNN " + cudnn_version_string(CUDNN_VERSION) +
       ")";
  int count = 0;
  if (driver > 0 && cudaGetDeviceCount(&count) == cudaSuccess && count > 0) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
      t += ", device 0 of " + std::to_string(count) + ": " + prop.name + " (compute " + std::to_string(prop.major) +
           "." + std::to_string(prop.minor) + ")";
  } else {
    t += ", no usable CUDA device";
  }
  cudaGetLastError();
  return t;
}

}  // namespace reddiff
