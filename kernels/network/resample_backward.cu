// CUDA twins of kernels/network/resample_backward.cpp: one thread per gradient element written (gathers, no atomics).
#include "base/cuda_check.h"
#include "kernels/network/resample_backward.h"

namespace reddiff {

namespace {

constexpr int kBlock = 256;

#define RD_GRID_STRIDE(i, total) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (total); i += int64_t(gridDim.x) * blockDim.x)

template <typename T>
__device__ __forceinline__ void put(T* y, int64_t i, float v, bool acc) {
  y[i] = from_f32<T>(acc ? to_f32(y[i]) + v : v);
}

// gx is [n, h, w, c].
template <typename T>
__global__ void avg_pool2_backward_kernel(const T* __restrict__ gy, T* gx, int h, int w, int c, bool acc,
                                          int64_t total) {
  int ho = h / 2, wo = w / 2;
  RD_GRID_STRIDE(e, total) {
    int ch = int(e % c);
    int64_t p = e / c;
    int j = int(p % w);
    p /= w;
    int i = int(p % h);
    int64_t b = p / h;
    put(gx, e, 0.25f * to_f32(gy[((b * ho + i / 2) * wo + j / 2) * c + ch]), acc);
  }
}

template <typename T>
__global__ void upsample_nearest2_backward_kernel(const T* __restrict__ gy, T* gx, int h, int w, int c, bool acc,
                                                  int64_t total) {
  int ho = 2 * h, wo = 2 * w;
  RD_GRID_STRIDE(e, total) {
    int ch = int(e % c);
    int64_t p = e / c;
    int j = int(p % w);
    p /= w;
    int i = int(p % h);
    int64_t b = p / h;
    const T* r0 = gy + ((b * ho + 2 * i) * wo + 2 * j) * c + ch;
    const T* r1 = r0 + int64_t(wo) * c;
    put(gx, e, to_f32(r0[0]) + to_f32(r0[c]) + to_f32(r1[0]) + to_f32(r1[c]), acc);
  }
}

template <typename T>
__global__ void channel_slice_kernel(const T* __restrict__ x, T* y, int cx, int offset, int cy, bool acc,
                                     int64_t total) {
  RD_GRID_STRIDE(e, total) {
    int ch = int(e % cy);
    int64_t r = e / cy;
    put(y, e, to_f32(x[r * cx + offset + ch]), acc);
  }
}

template <typename T>
__global__ void grad_add_kernel(const T* __restrict__ x, T* y, int64_t total) {
  RD_GRID_STRIDE(e, total) { y[e] = from_f32<T>(to_f32(y[e]) + to_f32(x[e])); }
}

// One thread per element of gx [n, c, h, w] (coalesced writes).
template <typename T>
__global__ void input_pad_backward_kernel(const T* __restrict__ gy, float* gx, int c, int h, int w, int hp, int wp,
                                          bool acc, int64_t total) {
  RD_GRID_STRIDE(e, total) {
    int j = int(e % w);
    int64_t p = e / w;
    int i = int(p % h);
    p /= h;
    int ch = int(p % c);
    int64_t b = p / c;
    auto g = [&](int ii, int jj) { return to_f32(gy[((b * hp + ii) * wp + jj) * c + ch]); };
    float v = input_pad_adjoint(i, j, h, w, hp, wp, g);
    gx[e] = acc ? gx[e] + v : v;
  }
}

// One thread per element of gx [n, hp, wp, c].
template <typename T>
__global__ void output_crop_backward_kernel(const float* __restrict__ gy, T* gx, int c, int h, int w, int hp, int wp,
                                            bool acc, int64_t total) {
  RD_GRID_STRIDE(e, total) {
    int ch = int(e % c);
    int64_t p = e / c;
    int j = int(p % wp);
    p /= wp;
    int i = int(p % hp);
    int64_t b = p / hp;
    put(gx, e, i < h && j < w ? gy[((b * c + ch) * h + i) * w + j] : 0.0f, acc);
  }
}

#undef RD_GRID_STRIDE

}  // namespace

void avg_pool2_backward_cuda(const ResampleBackwardArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.h * a.w * a.c;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "avg_pool2_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool2_backward_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        static_cast<const T*>(a.gy), static_cast<T*>(a.gx), a.h, a.w, a.c, a.accumulate, total);
  });
  RD_CUDA_CHECK_LAUNCH("avg_pool2_backward");
}

void upsample_nearest2_backward_cuda(const ResampleBackwardArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.h * a.w * a.c;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "upsample_nearest2_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_nearest2_backward_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        static_cast<const T*>(a.gy), static_cast<T*>(a.gx), a.h, a.w, a.c, a.accumulate, total);
  });
  RD_CUDA_CHECK_LAUNCH("upsample_nearest2_backward");
}

void channel_slice_cuda(const ChannelSliceArgs& a, Stream s) {
  int64_t total = a.rows * a.cy;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "channel_slice", [&](auto tag) {
    using T = typename decltype(tag)::type;
    channel_slice_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        static_cast<const T*>(a.x), static_cast<T*>(a.y), a.cx, a.offset, a.cy, a.accumulate, total);
  });
  RD_CUDA_CHECK_LAUNCH("channel_slice");
}

void grad_add_cuda(const GradAddArgs& a, Stream s) {
  if (a.n <= 0) return;
  dispatch_cuda_storage(a.dtype, "grad_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    grad_add_kernel<T><<<grid_for(a.n, kBlock), kBlock, 0, as_cuda_stream(s)>>>(static_cast<const T*>(a.x),
                                                                                static_cast<T*>(a.y), a.n);
  });
  RD_CUDA_CHECK_LAUNCH("grad_add");
}

void input_pad_backward_cuda(const InputPadBackwardArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.c * a.h * a.w;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "input_pad_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    input_pad_backward_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        static_cast<const T*>(a.gy), a.gx, a.c, a.h, a.w, a.hp, a.wp, a.accumulate, total);
  });
  RD_CUDA_CHECK_LAUNCH("input_pad_backward");
}

void output_crop_backward_cuda(const OutputCropBackwardArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.hp * a.wp * a.c;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "output_crop_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    output_crop_backward_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        a.gy, static_cast<T*>(a.gx), a.c, a.h, a.w, a.hp, a.wp, a.accumulate, total);
  });
  RD_CUDA_CHECK_LAUNCH("output_crop_backward");
}

}  // namespace reddiff
