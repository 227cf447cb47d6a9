// CUDA twin of kernels/network/attention.cpp, as cuBLAS strided-batched GEMMs (batched over heads, per image)
// and one softmax kernel:
//   S = K^T Q / sqrt(d)      f32 accumulate, f32 scores          [heads, T, T]
//   P = softmax_rows(S)      f32 math, stored in the activation dtype (as guided-diffusion's
//                            `softmax(weight.float()).type(weight.dtype)`); in place for f32
//   O = V P                  f32 accumulate, written straight into the head's channels of out
// Both head orders are just different base offsets and head strides into the qkv channels.
// A second implementation, attention_fused_kernel, does everything in one launch: one warp per query,
// the keys visited once with an online (running-max) f32 softmax, the output accumulated in registers;
// no T x T buffer and no per-image launches. attention_cuda_impl picks between them.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/cuda_check.h"
#include "kernels/network/attention.h"

namespace reddiff {

namespace {

constexpr size_t kAlign = 256;
constexpr size_t kScoreBudget = size_t(256) << 20;  // bytes of scores + probabilities per pass

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Heads processed per pass so that the T x T buffers stay within kScoreBudget (at least one).
int heads_per_pass(int t, int heads, DType dtype) {
  size_t per_head = size_t(t) * size_t(t) * (sizeof(float) + (dtype == DType::F32 ? 0 : dtype_size(dtype)));
  size_t hb = per_head ? kScoreBudget / per_head : size_t(heads);
  return int(std::max<size_t>(1, std::min<size_t>(hb, size_t(heads))));
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32:
      return CUDA_R_32F;
    case DType::F16:
      return CUDA_R_16F;
    case DType::BF16:
      return CUDA_R_16BF;
    default:
      throw Error(std::string("attention: unsupported dtype ") + dtype_name(t), 1);
  }
}

// One block per row of s (length t); p may alias s when TP is float (each element is read and then
// written by the same thread).
template <typename TP>
__global__ void softmax_rows_kernel(const float* s, TP* p, int t) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const float* r = s + row * t;
  TP* o = p + row * t;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < t; j += blockDim.x) mx = fmaxf(mx, r[j]);
  mx = block_max(mx, scratch);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < t; j += blockDim.x) sum += expf(r[j] - mx);
  sum = block_sum(sum, scratch);
  const float inv = 1.0f / sum;
  for (int j = threadIdx.x; j < t; j += blockDim.x) o[j] = from_f32<TP>(expf(r[j] - mx) * inv);
}

constexpr int kFusedMaxPerLane = 4;  // head dim <= 128
constexpr int kFusedWarps = 4;       // queries per block

// One warp per query token i of one head of one image: lane l holds q, and accumulates out, at head
// channels l, l + 32, ...; the scores' running max m and sum l_sum are kept in f32 as keys stream by.
template <typename T>
__global__ void attention_fused_kernel(AttentionArgs a, int d, float scale) {
  const int lane = threadIdx.x & 31;
  const int i = blockIdx.x * kFusedWarps + (threadIdx.x >> 5);
  const int head = blockIdx.y, n = blockIdx.z;
  if (i >= a.t) return;  // whole warps only: t is per block row, every lane of a warp agrees
  const int64_t c3 = 3LL * a.c;
  const T* img = static_cast<const T*>(a.qkv) + int64_t(n) * a.t * c3;
  const int qc = attention_q_channel(head, d, a.c, a.legacy), kc = attention_k_channel(head, d, a.c, a.legacy),
            vc = attention_v_channel(head, d, a.c, a.legacy);
  float q[kFusedMaxPerLane], acc[kFusedMaxPerLane];
#pragma unroll
  for (int r = 0; r < kFusedMaxPerLane; ++r) {
    const int e = lane + 32 * r;
    q[r] = e < d ? to_f32(img[int64_t(i) * c3 + qc + e]) * scale : 0.0f;
    acc[r] = 0.0f;
  }
  float m = -INFINITY, l_sum = 0.0f;
  for (int j = 0; j < a.t; ++j) {
    const T* row = img + int64_t(j) * c3;
    float sc = 0.0f;
#pragma unroll
    for (int r = 0; r < kFusedMaxPerLane; ++r) {
      const int e = lane + 32 * r;
      if (e < d) sc += q[r] * to_f32(row[kc + e]);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sc += __shfl_xor_sync(0xffffffffu, sc, off);
    const float m_new = fmaxf(m, sc), corr = expf(m - m_new), p = expf(sc - m_new);
    l_sum = l_sum * corr + p;
#pragma unroll
    for (int r = 0; r < kFusedMaxPerLane; ++r) {
      const int e = lane + 32 * r;
      if (e < d) acc[r] = acc[r] * corr + p * to_f32(row[vc + e]);
    }
    m = m_new;
  }
  T* o = static_cast<T*>(a.out) + (int64_t(n) * a.t + i) * a.c + int64_t(head) * d;
  const float inv = 1.0f / l_sum;
#pragma unroll
  for (int r = 0; r < kFusedMaxPerLane; ++r) {
    const int e = lane + 32 * r;
    if (e < d) o[e] = from_f32<T>(acc[r] * inv);
  }
}

void attention_fused(const AttentionArgs& a, cudaStream_t stream) {
  const int d = a.c / a.heads;
  dim3 grid(unsigned((a.t + kFusedWarps - 1) / kFusedWarps), unsigned(a.heads), unsigned(a.n));
  const float scale = 1.0f / sqrtf(float(d));
  dispatch_cuda_storage(a.dtype, "attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    attention_fused_kernel<T><<<grid, 32 * kFusedWarps, 0, stream>>>(a, d, scale);
  });
  RD_CUDA_CHECK_LAUNCH("attention (fused)");
}

}  // namespace

AttentionArgs::Impl attention_cuda_impl(const AttentionArgs& a) {
  const int d = a.heads > 0 ? a.c / a.heads : 0;
  const bool fused_ok = d > 0 && d <= 32 * kFusedMaxPerLane;
  AttentionArgs::Impl want = a.impl;
  if (want == AttentionArgs::Impl::Auto) {
    static const char* env = std::getenv("REDDIFF_ATTENTION");
    if (env && std::strcmp(env, "fused") == 0)
      want = AttentionArgs::Impl::Fused;
    else if (env && std::strcmp(env, "gemm") == 0)
      want = AttentionArgs::Impl::Gemm;
  }
  // From bench/attention_impls.cpp on an H100 (docs/benchmarks.md, "Attention"): the fused kernel wins
  // where the GEMM path is launch-bound -- 8x8 token grids from batch 2 (3-14x at batch 4-16), and small
  // heads at 16x16 from batch 4 -- and loses 3-14x at 32x32 and on wide layers, where the GEMMs run well.
  if (want == AttentionArgs::Impl::Auto)
    want = (a.t <= 64 && a.n >= 2) || (a.t <= 256 && a.c <= 128 && a.n >= 4) ? AttentionArgs::Impl::Fused
                                                                             : AttentionArgs::Impl::Gemm;
  if (want == AttentionArgs::Impl::Fused && !fused_ok) want = AttentionArgs::Impl::Gemm;
  return want;
}

size_t attention_workspace_bytes_cuda(int n, int t, int c, int heads, DType dtype) {
  if (t <= 0 || heads <= 0) return 0;
  size_t hb = size_t(heads_per_pass(t, heads, dtype));
  size_t tt = size_t(t) * size_t(t) * hb;
  size_t bytes = align_up(tt * sizeof(float));
  if (dtype != DType::F32) bytes += align_up(tt * dtype_size(dtype));
  return bytes;
}

void attention_cuda(const AttentionArgs& a, Stream s) {
  if (a.n <= 0 || a.t <= 0 || a.c <= 0) return;
  if (attention_cuda_impl(a) == AttentionArgs::Impl::Fused) return attention_fused(a, as_cuda_stream(s));
  const cudaDataType_t ct = cuda_type(a.dtype);
  const size_t es = dtype_size(a.dtype);
  const int d = a.c / a.heads, t = a.t, c3 = 3 * a.c;
  const int hb = heads_per_pass(t, a.heads, a.dtype);
  const long long head_stride = a.legacy ? 3LL * d : d;  // channels between consecutive heads' q (k, v)
  const long long tt = (long long)t * t;
  const float scale = 1.0f / sqrtf(float(d)), one = 1.0f, zero = 0.0f;
  cudaStream_t stream = as_cuda_stream(s);
  cublasHandle_t h = cuda_blas_handle(stream);

  float* scores = static_cast<float*>(a.workspace);
  void* probs = a.dtype == DType::F32
                    ? a.workspace
                    : static_cast<void*>(static_cast<char*>(a.workspace) + align_up(size_t(tt) * hb * sizeof(float)));
  const char* qkv = static_cast<const char*>(a.qkv);
  char* out = static_cast<char*>(a.out);
  const int threads = t >= 512 ? 256 : (t >= 128 ? 128 : 32);

  for (int n = 0; n < a.n; ++n) {
    const char* img = qkv + size_t(n) * size_t(t) * size_t(c3) * es;
    for (int h0 = 0; h0 < a.heads; h0 += hb) {
      const int nb = std::min(hb, a.heads - h0);
      const char* q = img + size_t(attention_q_channel(h0, d, a.c, a.legacy)) * es;
      const char* k = img + size_t(attention_k_channel(h0, d, a.c, a.legacy)) * es;
      const char* v = img + size_t(attention_v_channel(h0, d, a.c, a.legacy)) * es;
      // S (column-major [T_j, T_i] = row-major [i][j]) = K^T Q * scale
      RD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, t, t, d, &scale, k, ct, c3, head_stride,
                                                 q, ct, c3, head_stride, &zero, scores, CUDA_R_32F, t, tt, nb,
                                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      dispatch_cuda_storage(a.dtype, "attention", [&](auto tag) {
        using T = typename decltype(tag)::type;
        softmax_rows_kernel<T><<<unsigned(int64_t(nb) * t), threads, 0, stream>>>(scores, static_cast<T*>(probs), t);
      });
      RD_CUDA_CHECK_LAUNCH("attention softmax");
      // O (column-major [d, T_i], ld = C) = V [d, T_j] * P [T_j, T_i]
      char* o = out + (size_t(n) * size_t(t) * size_t(a.c) + size_t(h0) * size_t(d)) * es;
      RD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, d, t, t, &one, v, ct, c3, head_stride,
                                                 probs, ct, t, tt, &zero, o, ct, a.c, (long long)d, nb,
                                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }
}

}  // namespace reddiff
