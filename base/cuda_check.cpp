#include "base/cuda_check.h"

#include <cstring>
#include <vector>

namespace reddiff {

void cuda_fail(const char* api, const char* call, const char* what, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  throw Error(std::string(api) + " call failed: " + call + ": " + (what ? what : "unknown error") + " (" +
                  (base ? base + 1 : file) + ":" + std::to_string(line) + ")",
              1);
}

const char* cublas_status_string(cublasStatus_t s) { return cublasGetStatusString(s); }

namespace {
// Handles are created lazily per (thread, device) and intentionally never destroyed: destroying them
// from a thread_local destructor at process exit can run after the CUDA runtime has shut down.
thread_local std::vector<cublasHandle_t> t_handles;
}  // namespace

cublasHandle_t cuda_blas_handle(cudaStream_t s) {
  int dev = 0;
  RD_CUDA_CHECK(cudaGetDevice(&dev));
  if (t_handles.size() <= size_t(dev)) t_handles.resize(size_t(dev) + 1, nullptr);
  cublasHandle_t& h = t_handles[size_t(dev)];
  if (!h) {
    RD_CUBLAS_CHECK(cublasCreate(&h));
    RD_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    RD_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
  }
  RD_CUBLAS_CHECK(cublasSetStream(h, s));
  return h;
}

}  // namespace reddiff
