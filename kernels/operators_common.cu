// CUDA twins of the operator memory helpers.
#include "kernels/operators_common.h"
#include "kernels/operators_cuda_util.cuh"

namespace reddiff {

void* ops_alloc_cuda(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw Error("out of GPU memory allocating " + std::to_string(bytes >> 20) + " MiB for an operator", 1);
  }
  ops_cuda_check(e, "cudaMalloc");
  return p;
}
void ops_free_cuda(void* p) {
  if (p) (void)cudaFree(p);
}
void ops_upload_cuda(void* dst, const void* host_src, size_t bytes) {
  if (bytes) ops_cuda_check(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice), "upload");
}
void ops_download_cuda(void* host_dst, const void* src, size_t bytes) {
  if (bytes) ops_cuda_check(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost), "download");
}
void ops_copy_cuda(void* dst, const void* src, size_t bytes, Stream s) {
  if (bytes && dst != src)
    ops_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ops_stream(s)), "copy");
}
void ops_zero_cuda(void* dst, size_t bytes, Stream s) {
  if (bytes) ops_cuda_check(cudaMemsetAsync(dst, 0, bytes, ops_stream(s)), "memset");
}
void ops_sync_cuda(Stream s) { ops_cuda_check(cudaStreamSynchronize(ops_stream(s)), "stream synchronize"); }

}  // namespace reddiff
