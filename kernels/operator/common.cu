// CUDA twins of the operator memory helpers.
#include "kernels/operator/common.h"
#include "base/cuda_check.h"

namespace reddiff {

void* ops_alloc_cuda(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw Error("out of GPU memory allocating " + std::to_string(bytes >> 20) + " MiB for an operator", 1);
  }
  if (e != cudaSuccess) cuda_fail("CUDA", "cudaMalloc", cudaGetErrorString(e), __FILE__, __LINE__);
  return p;
}
void ops_free_cuda(void* p) {
  if (p) (void)cudaFree(p);
}
void ops_upload_cuda(void* dst, const void* host_src, size_t bytes) {
  if (bytes) RD_CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}
void ops_download_cuda(void* host_dst, const void* src, size_t bytes) {
  if (bytes) RD_CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}
void ops_copy_cuda(void* dst, const void* src, size_t bytes, Stream s) {
  if (bytes && dst != src)
    RD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, as_cuda_stream(s)));
}
void ops_zero_cuda(void* dst, size_t bytes, Stream s) {
  if (bytes) RD_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, as_cuda_stream(s)));
}
void ops_sync_cuda(Stream s) { RD_CUDA_CHECK(cudaStreamSynchronize(as_cuda_stream(s))); }

}  // namespace reddiff
