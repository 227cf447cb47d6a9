// Backward of the multi-head attention kernel (kernels/network/attention.h) w.r.t. its qkv input, for the
// network's VJP. Per image and head, with P = softmax(Q K^T / sqrt(d)) recomputed from qkv and dO the
// output gradient of the head's channels:
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)) / sqrt(d),  dQ = dS K,  dK = dS^T Q
// written to the same channels of gqkv [N, T, 3C] that the forward read q, k, v from (both head orders).
// gqkv is overwritten (the qkv convolution output has no other consumer).
#pragma once
#include "kernels/network/attention.h"

namespace reddiff {

struct AttentionBackwardArgs {
  const void* qkv = nullptr;   // [N, T, 3C]
  const void* gout = nullptr;  // [N, T, C]
  void* gqkv = nullptr;        // [N, T, 3C]
  DType dtype = DType::F32;
  int n = 0, t = 0, c = 0, heads = 1;
  bool legacy = true;
  void* workspace = nullptr;  // attention_backward_workspace_bytes_*() bytes
};

size_t attention_backward_workspace_bytes_cpu(int n, int t, int c, int heads, DType dtype);
size_t attention_backward_workspace_bytes_cuda(int n, int t, int c, int heads, DType dtype);
// The workspace the twin of `device` needs (AttentionBackwardArgs::workspace).
inline size_t attention_backward_workspace_bytes(Device device, int n, int t, int c, int heads, DType dtype) {
  return RD_TWIN(device, attention_backward_workspace_bytes, n, t, c, heads, dtype);
}
void attention_backward_cpu(const AttentionBackwardArgs& a, Stream s);
void attention_backward_cuda(const AttentionBackwardArgs& a, Stream s);
inline void attention_backward_check(const AttentionBackwardArgs& a) {
  const char* k = "attention_backward";
  attention_check_common(k, a.n, a.t, a.c, a.heads, a.dtype, a.workspace);
  const bool work = int64_t(a.n) * a.t * a.c > 0;
  kernel_require_data(a.qkv, work, k, "qkv");
  kernel_require_data(a.gout, work, k, "gout");
  kernel_require_data(a.gqkv, work, k, "gqkv");
}
RD_KERNEL_DISPATCHER(attention_backward, AttentionBackwardArgs)

// One row of the softmax backward with the 1/sqrt(d) scale: ds[j] = scale * p[j] * (dp[j] - sum_k dp[k] p[k]),
// given dot = sum_k dp[k] p[k].
RD_HD float softmax_backward_element(float p, float dp, float dot, float scale) { return scale * p * (dp - dot); }

}  // namespace reddiff
