// CPU twins of the operator memory helpers.
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/operator/common.h"

namespace reddiff {

void* ops_alloc_cpu(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}
void ops_free_cpu(void* p) { std::free(p); }
void ops_upload_cpu(void* dst, const void* host_src, size_t bytes) {
  if (bytes) std::memcpy(dst, host_src, bytes);
}
void ops_download_cpu(void* host_dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(host_dst, src, bytes);
}
void ops_copy_cpu(void* dst, const void* src, size_t bytes, Stream) {
  if (bytes && dst != src) std::memmove(dst, src, bytes);
}
void ops_zero_cpu(void* dst, size_t bytes, Stream) {
  if (bytes) std::memset(dst, 0, bytes);
}
void ops_sync_cpu(Stream) {}

}  // namespace reddiff
