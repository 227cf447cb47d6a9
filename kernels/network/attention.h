// Multi-head self-attention of guided-diffusion's AttentionBlock on the output of the qkv 1x1 conv.
// qkv is [N, T, 3C] (NHWC with T = H*W tokens), out is [N, T, C]; head h writes channels [h*d, (h+1)*d).
// Channel layout of the 3C qkv channels, head dim d = C / heads:
//   legacy (QKVAttentionLegacy): q = [3hd, 3hd+d), k = [3hd+d, 3hd+2d), v = [3hd+2d, 3hd+3d)
//   new    (QKVAttention):       q = [hd, hd+d),   k = [C+hd, ...),      v = [2C+hd, ...)
// Scores are q.k / sqrt(d), softmax over keys in f32, out = P v.
#pragma once
#include "kernels/kernel_common.h"

namespace reddiff {

struct AttentionArgs {
  const void* qkv = nullptr;
  void* out = nullptr;
  DType dtype = DType::F32;
  int n = 0, t = 0, c = 0, heads = 1;
  bool legacy = true;
  void* workspace = nullptr;  // attention_workspace_bytes() bytes
  // CUDA implementation: Auto (the faster one for this size, from the H100 measurement in
  // docs/benchmarks.md), Gemm (cuBLAS batched GEMMs + a softmax kernel) or Fused (one kernel, online
  // softmax, no T x T buffer; head dim <= 128). The CPU twin has one implementation and ignores it.
  enum class Impl { Auto, Gemm, Fused } impl = Impl::Auto;
};
// The CUDA implementation Auto picks for t tokens of head dim d; REDDIFF_ATTENTION=gemm|fused forces one.
AttentionArgs::Impl attention_cuda_impl(const AttentionArgs& a);

RD_HD int attention_q_channel(int head, int d, int c, bool legacy) { return legacy ? 3 * head * d : head * d; }
RD_HD int attention_k_channel(int head, int d, int c, bool legacy) { return legacy ? 3 * head * d + d : c + head * d; }
RD_HD int attention_v_channel(int head, int d, int c, bool legacy) {
  return legacy ? 3 * head * d + 2 * d : 2 * c + head * d;
}

size_t attention_workspace_bytes_cpu(int n, int t, int c, int heads, DType dtype);
size_t attention_workspace_bytes_cuda(int n, int t, int c, int heads, DType dtype);
// The workspace the twin of `device` needs (AttentionArgs::workspace).
inline size_t attention_workspace_bytes(Device device, int n, int t, int c, int heads, DType dtype) {
  return RD_TWIN(device, attention_workspace_bytes, n, t, c, heads, dtype);
}
void attention_cpu(const AttentionArgs& a, Stream s);
void attention_cuda(const AttentionArgs& a, Stream s);

// Shared by attention and attention_backward (kernels/network/attention_backward.h).
inline void attention_check_common(const char* k, int n, int t, int c, int heads, DType dtype, const void* workspace) {
  kernel_require_size(n, k, "batch");
  kernel_require_size(t, k, "token count");
  kernel_require_size(c, k, "channel count");
  kernel_require_split(c, heads, k, "channels", "heads");
  kernel_require_act_dtype(dtype, k);
  kernel_require_data(workspace, int64_t(n) * t * c > 0, k, "workspace");
}
inline void attention_check(const AttentionArgs& a) {
  const char* k = "attention";
  attention_check_common(k, a.n, a.t, a.c, a.heads, a.dtype, a.workspace);
  const bool work = int64_t(a.n) * a.t * a.c > 0;
  kernel_require_data(a.qkv, work, k, "qkv");
  kernel_require_data(a.out, work, k, "out");
}
RD_KERNEL_DISPATCHER(attention, AttentionArgs)

}  // namespace reddiff
