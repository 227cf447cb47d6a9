// CUDA twins of kernels/network/resample.cpp: 2x2 average pooling, nearest 2x upsampling, channel concat,
// the network input (NCHW f32 -> reflect-padded NHWC) and output (NHWC -> cropped NCHW f32).
#include "base/cuda_check.h"
#include "kernels/network/resample.h"

namespace reddiff {

namespace {

constexpr int kBlock = 256;

#define RD_GRID_STRIDE(i, total) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (total); i += int64_t(gridDim.x) * blockDim.x)

// One thread per output element; y is [n, h/2, w/2, c].
template <typename T>
__global__ void avg_pool2_kernel(const T* __restrict__ x, T* __restrict__ y, int h, int w, int c, int64_t total) {
  int ho = h / 2, wo = w / 2;
  RD_GRID_STRIDE(e, total) {
    int ch = int(e % c);
    int64_t p = e / c;
    int j = int(p % wo);
    p /= wo;
    int i = int(p % ho);
    int64_t b = p / ho;
    const T* r0 = x + ((b * h + 2 * i) * w + 2 * j) * c + ch;
    const T* r1 = r0 + int64_t(w) * c;
    float v = (to_f32(r0[0]) + to_f32(r0[c]) + to_f32(r1[0]) + to_f32(r1[c])) * 0.25f;
    y[e] = from_f32<T>(v);
  }
}

// One thread per output element; y is [n, 2h, 2w, c].
template <typename T>
__global__ void upsample_nearest2_kernel(const T* __restrict__ x, T* __restrict__ y, int h, int w, int c,
                                         int64_t total) {
  int ho = 2 * h, wo = 2 * w;
  RD_GRID_STRIDE(e, total) {
    int ch = int(e % c);
    int64_t p = e / c;
    int j = int(p % wo);
    p /= wo;
    int i = int(p % ho);
    int64_t b = p / ho;
    y[e] = x[((b * h + i / 2) * w + j / 2) * c + ch];
  }
}

template <typename T>
__global__ void concat_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, int ca, int cb,
                              int64_t total) {
  int cy = ca + cb;
  RD_GRID_STRIDE(e, total) {
    int ch = int(e % cy);
    int64_t r = e / cy;
    y[e] = ch < ca ? a[r * ca + ch] : b[r * cb + (ch - ca)];
  }
}

// One thread per output element of y [n, hp, wp, c] (coalesced writes).
template <typename T>
__global__ void input_pad_kernel(const float* __restrict__ x, T* __restrict__ y, int c, int h, int w, int hp, int wp,
                                 int64_t total) {
  RD_GRID_STRIDE(e, total) {
    int ch = int(e % c);
    int64_t p = e / c;
    int j = int(p % wp);
    p /= wp;
    int i = int(p % hp);
    int64_t b = p / hp;
    int si = reflect_index(i, h), sj = reflect_index(j, w);
    y[e] = from_f32<T>(x[((b * c + ch) * h + si) * w + sj]);
  }
}

// One thread per output element of y [n, c, h, w] (coalesced writes).
template <typename T>
__global__ void output_crop_kernel(const T* __restrict__ x, float* __restrict__ y, int c, int h, int w, int hp, int wp,
                                   int64_t total) {
  RD_GRID_STRIDE(e, total) {
    int j = int(e % w);
    int64_t p = e / w;
    int i = int(p % h);
    p /= h;
    int ch = int(p % c);
    int64_t b = p / c;
    y[e] = to_f32(x[((b * hp + i) * wp + j) * c + ch]);
  }
}

#undef RD_GRID_STRIDE

}  // namespace

void avg_pool2_cuda(const ResampleArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * (a.h / 2) * (a.w / 2) * a.c;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "avg_pool2", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool2_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        static_cast<const T*>(a.x), static_cast<T*>(a.y), a.h, a.w, a.c, total);
  });
  RD_CUDA_CHECK_LAUNCH("avg_pool2");
}

void upsample_nearest2_cuda(const ResampleArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * (2 * a.h) * (2 * a.w) * a.c;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "upsample_nearest2", [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_nearest2_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        static_cast<const T*>(a.x), static_cast<T*>(a.y), a.h, a.w, a.c, total);
  });
  RD_CUDA_CHECK_LAUNCH("upsample_nearest2");
}

void concat_channels_cuda(const ConcatArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.hw * (a.ca + a.cb);
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "concat_channels", [&](auto tag) {
    using T = typename decltype(tag)::type;
    concat_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(
        static_cast<const T*>(a.a), static_cast<const T*>(a.b), static_cast<T*>(a.y), a.ca, a.cb, total);
  });
  RD_CUDA_CHECK_LAUNCH("concat_channels");
}

void input_pad_cuda(const InputPadArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.hp * a.wp * a.c;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "input_pad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    input_pad_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(a.x, static_cast<T*>(a.y), a.c, a.h,
                                                                                   a.w, a.hp, a.wp, total);
  });
  RD_CUDA_CHECK_LAUNCH("input_pad");
}

void output_crop_cuda(const OutputCropArgs& a, Stream s) {
  int64_t total = int64_t(a.n) * a.c * a.h * a.w;
  if (total <= 0) return;
  dispatch_cuda_storage(a.dtype, "output_crop", [&](auto tag) {
    using T = typename decltype(tag)::type;
    output_crop_kernel<T><<<grid_for(total, kBlock), kBlock, 0, as_cuda_stream(s)>>>(static_cast<const T*>(a.x), a.y,
                                                                                     a.c, a.h, a.w, a.hp, a.wp, total);
  });
  RD_CUDA_CHECK_LAUNCH("output_crop");
}

}  // namespace reddiff
