#include "engine/cuda/conv_direct.h"
#include "base/cuda_check.h"

namespace reddiff {

namespace {

// One thread per output element; consecutive threads take consecutive output channels, so they share
// the input pixel reads.
template <typename T>
__global__ void conv_direct_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int h, int wd,
                                   int ci, int co, int ho, int wo, int k, int stride, int pad, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    int o = int(e % co);
    int64_t p = e / co;
    int j = int(p % wo);
    p /= wo;
    int i = int(p % ho);
    int64_t b = p / ho;
    float acc = 0.0f;
    for (int kh = 0; kh < k; ++kh) {
      int ii = i * stride - pad + kh;
      if (ii < 0 || ii >= h) continue;
      for (int kw = 0; kw < k; ++kw) {
        int jj = j * stride - pad + kw;
        if (jj < 0 || jj >= wd) continue;
        const T* xp = x + ((b * h + ii) * wd + jj) * ci;
        const T* wp = w + ((int64_t(o) * k + kh) * k + kw) * ci;
        for (int c = 0; c < ci; ++c) acc += to_f32(xp[c]) * to_f32(wp[c]);
      }
    }
    y[e] = from_f32<T>(acc);
  }
}

// One thread per gx element; consecutive threads take consecutive input channels (coalesced weight reads).
template <typename T>
__global__ void conv_backward_data_direct_kernel(const T* __restrict__ gy, const T* __restrict__ w, T* gx, int h,
                                                 int wd, int ci, int co, int ho, int wo, int k, int stride, int pad,
                                                 bool accumulate, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    int c = int(e % ci);
    int64_t p = e / ci;
    int j = int(p % wd);
    p /= wd;
    int i = int(p % h);
    int64_t b = p / h;
    float acc = 0.0f;
    for (int kh = 0; kh < k; ++kh) {
      int ni = i + pad - kh;
      if (ni < 0 || ni % stride || ni / stride >= ho) continue;
      int oi = ni / stride;
      for (int kw = 0; kw < k; ++kw) {
        int nj = j + pad - kw;
        if (nj < 0 || nj % stride || nj / stride >= wo) continue;
        int oj = nj / stride;
        const T* gp = gy + ((b * ho + oi) * wo + oj) * co;
        for (int o = 0; o < co; ++o) acc += to_f32(gp[o]) * to_f32(w[((int64_t(o) * k + kh) * k + kw) * ci + c]);
      }
    }
    gx[e] = from_f32<T>(accumulate ? to_f32(gx[e]) + acc : acc);
  }
}

}  // namespace

void conv_backward_data_direct_cuda(const ConvBackwardDataDirectArgs& a, cudaStream_t s) {
  int64_t total = int64_t(a.n) * a.h * a.w_ * a.ci;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "conv_backward_data_direct", [&](auto tag) {
    using T = typename decltype(tag)::type;
    conv_backward_data_direct_kernel<T><<<grid_for(total, 256), 256, 0, s>>>(
        static_cast<const T*>(a.gy), static_cast<const T*>(a.w), static_cast<T*>(a.gx), a.h, a.w_, a.ci, a.co, a.ho,
        a.wo, a.k, a.stride, a.pad, a.accumulate, total);
  });
  RD_CUDA_CHECK_LAUNCH("conv_backward_data_direct");
}

void conv_direct_cuda(const ConvDirectArgs& a, cudaStream_t s) {
  int64_t total = int64_t(a.n) * a.ho * a.wo * a.co;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "conv_direct", [&](auto tag) {
    using T = typename decltype(tag)::type;
    conv_direct_kernel<T><<<grid_for(total, 256), 256, 0, s>>>(static_cast<const T*>(a.x), static_cast<const T*>(a.w),
                                                               static_cast<T*>(a.y), a.h, a.w_, a.ci, a.co, a.ho, a.wo,
                                                               a.k, a.stride, a.pad, total);
  });
  RD_CUDA_CHECK_LAUNCH("conv_direct");
}

}  // namespace reddiff
