// Private helpers of the operator CUDA kernels (included by kernels/operators_*.cu only).
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "engine/error.h"
#include "kernels/kernel_common.h"

namespace reddiff {

inline void ops_cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e), 1);
}
inline cudaStream_t ops_stream(Stream s) { return static_cast<cudaStream_t>(s); }

// Grid for a grid-stride loop over `count` items.
inline unsigned ops_blocks(int64_t count, int threads = 256) {
  int64_t b = (count + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 8) b = 65535LL * 8;
  return unsigned(b);
}

#define OPS_LAUNCH_CHECK(name) ::reddiff::ops_cuda_check(cudaGetLastError(), name)

}  // namespace reddiff
