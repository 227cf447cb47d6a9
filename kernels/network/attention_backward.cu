// CUDA twin of kernels/network/attention_backward.cpp with cuBLAS strided-batched GEMMs over heads (per image,
// heads in passes that keep the T x T buffers within a budget) and two row kernels:
//   P  = softmax(K^T Q / sqrt(d))        f32 (and a copy in the activation dtype for the GEMMs)
//   dP = V^T dO                          f32
//   dS = P * (dP - rowsum(dP * P)) / sqrt(d)   f32 math, stored in the activation dtype
//   dQ = K dS, dK = Q dS^T, dV = dO P^T   (column-major views), f32 accumulate, written into gqkv
#include <algorithm>

#include "base/cuda_check.h"
#include "kernels/network/attention_backward.h"

namespace reddiff {

namespace {

constexpr size_t kAlign = 256;
constexpr size_t kBudget = size_t(512) << 20;  // bytes of T x T buffers per pass

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

size_t bytes_per_head(int t, DType dtype) {
  size_t tt = size_t(t) * size_t(t);
  return tt * (2 * sizeof(float) + (dtype == DType::F32 ? 0 : 2 * dtype_size(dtype)));
}

int heads_per_pass(int t, int heads, DType dtype) {
  size_t per = bytes_per_head(t, dtype);
  size_t hb = per ? kBudget / per : size_t(heads);
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
      throw Error(std::string("attention_backward: unsupported dtype ") + dtype_name(t), 1);
  }
}

// One block per row: p (f32, in place) = softmax(p); pd = p in the storage type (unless null).
template <typename TP>
__global__ void softmax_rows_kernel(float* p, TP* pd, int t) {
  __shared__ float scratch[32];
  float* r = p + int64_t(blockIdx.x) * t;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < t; j += blockDim.x) mx = fmaxf(mx, r[j]);
  mx = block_max(mx, scratch);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < t; j += blockDim.x) sum += expf(r[j] - mx);
  sum = block_sum(sum, scratch);
  const float inv = 1.0f / sum;
  for (int j = threadIdx.x; j < t; j += blockDim.x) {
    float v = expf(r[j] - mx) * inv;
    r[j] = v;
    if (pd) pd[int64_t(blockIdx.x) * t + j] = from_f32<TP>(v);
  }
}

// One block per row: dp (f32, in place) = softmax backward; ds = the result in the storage type (unless null).
template <typename TP>
__global__ void softmax_backward_rows_kernel(const float* __restrict__ p, float* dp, TP* ds, int t, float scale) {
  __shared__ float scratch[32];
  const float* pr = p + int64_t(blockIdx.x) * t;
  float* r = dp + int64_t(blockIdx.x) * t;
  float dot = 0.0f;
  for (int j = threadIdx.x; j < t; j += blockDim.x) dot += pr[j] * r[j];
  dot = block_sum(dot, scratch);
  for (int j = threadIdx.x; j < t; j += blockDim.x) {
    float v = softmax_backward_element(pr[j], r[j], dot, scale);
    r[j] = v;
    if (ds) ds[int64_t(blockIdx.x) * t + j] = from_f32<TP>(v);
  }
}

}  // namespace

size_t attention_backward_workspace_bytes_cuda(int n, int t, int c, int heads, DType dtype) {
  if (t <= 0 || heads <= 0) return 0;
  size_t tt = size_t(t) * size_t(t) * size_t(heads_per_pass(t, heads, dtype));
  size_t bytes = 2 * align_up(tt * sizeof(float));
  if (dtype != DType::F32) bytes += 2 * align_up(tt * dtype_size(dtype));
  return bytes;
}

void attention_backward_cuda(const AttentionBackwardArgs& a, Stream s) {
  if (a.n <= 0 || a.t <= 0 || a.c <= 0) return;
  const cudaDataType_t ct = cuda_type(a.dtype);
  const size_t es = dtype_size(a.dtype);
  const bool f32 = a.dtype == DType::F32;
  const int d = a.c / a.heads, t = a.t, c3 = 3 * a.c;
  const int hb = heads_per_pass(t, a.heads, a.dtype);
  const long long hs = a.legacy ? 3LL * d : d;  // channels between consecutive heads' q (k, v)
  const long long tt = (long long)t * t;
  const float scale = 1.0f / sqrtf(float(d)), one = 1.0f, zero = 0.0f;
  cudaStream_t stream = as_cuda_stream(s);
  cublasHandle_t h = cuda_blas_handle(stream);

  char* ws = static_cast<char*>(a.workspace);
  const size_t fbytes = align_up(size_t(tt) * hb * sizeof(float));
  float* p = reinterpret_cast<float*>(ws);
  float* dp = reinterpret_cast<float*>(ws + fbytes);
  void* pd = f32 ? static_cast<void*>(p) : static_cast<void*>(ws + 2 * fbytes);
  void* dsd = f32 ? static_cast<void*>(dp) : static_cast<void*>(ws + 2 * fbytes + align_up(size_t(tt) * hb * es));
  const char* qkv = static_cast<const char*>(a.qkv);
  const char* gout = static_cast<const char*>(a.gout);
  char* gqkv = static_cast<char*>(a.gqkv);
  const int threads = t >= 512 ? 256 : (t >= 128 ? 128 : 32);

  for (int n = 0; n < a.n; ++n) {
    const size_t img = size_t(n) * size_t(t) * size_t(c3) * es;
    for (int h0 = 0; h0 < a.heads; h0 += hb) {
      const int nb = std::min(hb, a.heads - h0);
      const size_t qo = img + size_t(attention_q_channel(h0, d, a.c, a.legacy)) * es;
      const size_t ko = img + size_t(attention_k_channel(h0, d, a.c, a.legacy)) * es;
      const size_t vo = img + size_t(attention_v_channel(h0, d, a.c, a.legacy)) * es;
      const char* go = gout + (size_t(n) * size_t(t) * size_t(a.c) + size_t(h0) * size_t(d)) * es;
      // S (column-major [T_j, T_i]) = K^T Q * scale, then P = softmax over j.
      RD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, t, t, d, &scale, qkv + ko, ct, c3, hs,
                                                 qkv + qo, ct, c3, hs, &zero, p, CUDA_R_32F, t, tt, nb,
                                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      // dP (column-major [T_j, T_i]) = V^T dO
      RD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, t, t, d, &one, qkv + vo, ct, c3, hs, go,
                                                 ct, a.c, (long long)d, &zero, dp, CUDA_R_32F, t, tt, nb,
                                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      dispatch_cuda_storage(a.dtype, "attention_backward", [&](auto tag) {
        using T = typename decltype(tag)::type;
        softmax_rows_kernel<T>
            <<<unsigned(int64_t(nb) * t), threads, 0, stream>>>(p, f32 ? nullptr : static_cast<T*>(pd), t);
        softmax_backward_rows_kernel<T>
            <<<unsigned(int64_t(nb) * t), threads, 0, stream>>>(p, dp, f32 ? nullptr : static_cast<T*>(dsd), t, scale);
      });
      RD_CUDA_CHECK_LAUNCH("attention_backward softmax");
      // dQ [d, T_i] = K [d, T_j] dS_cm [T_j, T_i]
      RD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, d, t, t, &one, qkv + ko, ct, c3, hs, dsd,
                                                 ct, t, tt, &zero, gqkv + qo, ct, c3, hs, nb, CUBLAS_COMPUTE_32F,
                                                 CUBLAS_GEMM_DEFAULT));
      // dK [d, T_j] = Q [d, T_i] dS_cm^T [T_i, T_j]
      RD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_T, d, t, t, &one, qkv + qo, ct, c3, hs, dsd,
                                                 ct, t, tt, &zero, gqkv + ko, ct, c3, hs, nb, CUBLAS_COMPUTE_32F,
                                                 CUBLAS_GEMM_DEFAULT));
      // dV [d, T_j] = dO [d, T_i] P_cm^T [T_i, T_j]
      RD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_T, d, t, t, &one, go, ct, a.c, (long long)d,
                                                 pd, ct, t, tt, &zero, gqkv + vo, ct, c3, hs, nb, CUBLAS_COMPUTE_32F,
                                                 CUBLAS_GEMM_DEFAULT));
    }
  }
}

}  // namespace reddiff
