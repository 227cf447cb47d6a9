// CUDA twin of kernels/attention.cpp, as cuBLAS strided-batched GEMMs (batched over heads, per image)
// and one softmax kernel:
//   S = K^T Q / sqrt(d)      f32 accumulate, f32 scores          [heads, T, T]
//   P = softmax_rows(S)      f32 math, stored in the activation dtype (as guided-diffusion's
//                            `softmax(weight.float()).type(weight.dtype)`); in place for f32
//   O = V P                  f32 accumulate, written straight into the head's channels of out
// Both head orders are just different base offsets and head strides into the qkv channels.
// TODO(perf, measure on the H100 at 8x8..32x32 tokens): a fused flash-style kernel avoids the T x T
// round trip through memory and the per-image launches; compare against this path.
#include <algorithm>

#include "engine/cuda/cuda_util.h"
#include "kernels/attention.h"

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
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: throw Error(std::string("attention: unsupported dtype ") + dtype_name(t), 1);
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

}  // namespace

size_t attention_workspace_bytes_cuda(int n, int t, int c, int heads, DType dtype) {
  if (t <= 0 || heads <= 0) return 0;
  size_t hb = size_t(heads_per_pass(t, heads, dtype));
  size_t tt = size_t(t) * size_t(t) * hb;
  size_t bytes = align_up(tt * sizeof(float));
  if (dtype != DType::F32) bytes += align_up(tt * dtype_size(dtype));
  return bytes;
}

void attention_cuda(const AttentionArgs& a, Stream s) {
  if (a.heads <= 0 || a.c % a.heads) throw Error("attention: " + std::to_string(a.c) + " channels do not split into " + std::to_string(a.heads) + " heads", 1);
  if (a.n <= 0 || a.t <= 0 || a.c <= 0) return;
  if (!a.workspace) throw Error("attention: no workspace", 1);
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
  void* probs = a.dtype == DType::F32 ? a.workspace
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
      RD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, t, t, d, &scale, k, ct, c3, head_stride, q,
                                                 ct, c3, head_stride, &zero, scores, CUDA_R_32F, t, tt, nb,
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
