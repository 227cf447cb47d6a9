// CUDA twins of kernels/network/embedding.cpp: timestep embedding, SiLU, label embedding, conv epilogue.
#include "base/cuda_check.h"
#include "kernels/network/embedding.h"

namespace reddiff {

namespace {

constexpr int kBlock = 256;

__global__ void timestep_embedding_kernel(const float* __restrict__ t, float* __restrict__ y, int n, int dim) {
  int half = dim / 2;
  int64_t total = int64_t(n) * dim;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    int b = int(e / dim), i = int(e % dim);
    float v = 0.0f;
    if (i < 2 * half) {
      int f = i < half ? i : i - half;
      float arg = t[b] * timestep_frequency(f, half);
      v = i < half ? cosf(arg) : sinf(arg);
    }
    y[e] = v;
  }
}

__global__ void silu_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = silu(x[i]);
}

__global__ void label_embedding_add_kernel(const int32_t* __restrict__ labels, const float* __restrict__ table,
                                           float* __restrict__ emb, int n, int dim) {
  int64_t total = int64_t(n) * dim;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    int b = int(e / dim), i = int(e % dim);
    emb[e] += table[int64_t(labels[b]) * dim + i];
  }
}

template <typename T>
__global__ void bias_residual_kernel(T* __restrict__ y, const float* __restrict__ bias, const T* __restrict__ r,
                                     int64_t total, int c) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    float v = to_f32(y[i]);
    if (bias) v += bias[i % c];
    if (r) v += to_f32(r[i]);
    y[i] = from_f32<T>(v);
  }
}

}  // namespace

void timestep_embedding_cuda(const TimestepEmbedArgs& a, Stream s) {
  if (a.n <= 0 || a.dim <= 0) return;
  int64_t total = int64_t(a.n) * a.dim;
  timestep_embedding_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a.t, a.y, a.n, a.dim);
  RD_CUDA_CHECK_LAUNCH("timestep_embedding");
}

void silu_cuda(const SiluArgs& a, Stream s) {
  if (a.n <= 0) return;
  silu_kernel<<<grid_for(a.n, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a.x, a.y, a.n);
  RD_CUDA_CHECK_LAUNCH("silu");
}

void label_embedding_add_cuda(const LabelEmbedArgs& a, Stream s) {
  if (a.n <= 0 || a.dim <= 0) return;
  int64_t total = int64_t(a.n) * a.dim;
  label_embedding_add_kernel<<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a.labels, a.table, a.emb, a.n,
                                                                                        a.dim);
  RD_CUDA_CHECK_LAUNCH("label_embedding_add");
}

void bias_residual_cuda(const BiasResidualArgs& a, Stream s) {
  if (a.rows <= 0 || a.c <= 0 || (!a.bias && !a.residual)) return;
  int64_t total = a.rows * a.c;
  dispatch_cuda_storage(a.dtype, "bias_residual", [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_residual_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        static_cast<T*>(a.y), a.bias, static_cast<const T*>(a.residual), total, a.c);
  });
  RD_CUDA_CHECK_LAUNCH("bias_residual");
}

}  // namespace reddiff
