// CUDA twins of kernels/operator/conv.h. The 2-D blur runs one thread per output pixel, one grid row
// (blockIdx.y) per plane, with the plane's kernel staged in shared memory when it fits.
#include "kernels/operator/conv.h"
#include "base/cuda_check.h"

namespace reddiff {
namespace {

constexpr int kMaxSharedTaps = 12288;  // 48 KiB of floats

__device__ const float* stage_kernel(const float* k, int taps, bool shared, float* smem) {
  if (!shared) return k;
  for (int t = threadIdx.x; t < taps; t += blockDim.x) smem[t] = k[t];
  __syncthreads();
  return smem;
}

__global__ void conv_kernel(Conv2dArgs a, bool use_shared) {
  extern __shared__ float smem[];
  const int plane = blockIdx.y;
  const int img = plane / a.c;
  const int taps = a.kh * a.kw;
  const float* k = stage_kernel(a.k + int64_t(img) * taps, taps, use_shared, smem);
  const int64_t hw = int64_t(a.h) * a.w;
  const float* x = a.in + int64_t(plane) * hw;
  float* y = a.out + int64_t(plane) * hw;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < hw; t += int64_t(gridDim.x) * blockDim.x) {
    const int p = int(t / a.w), q = int(t - int64_t(p) * a.w);
    float s = 0.0f;
    for (int ka = 0; ka < a.kh; ++ka) {
      const float* xrow = x + int64_t(a.rh[p + a.kh - 1 - ka]) * a.w;
      const float* krow = k + ka * a.kw;
      const int* rw = a.rw + q + a.kw - 1;
      for (int kb = 0; kb < a.kw; ++kb) s += krow[kb] * __ldg(xrow + rw[-kb]);
    }
    y[t] = s;
  }
}

__global__ void conv_adjoint_kernel(Conv2dArgs a, bool use_shared) {
  extern __shared__ float smem[];
  const int plane = blockIdx.y;
  const int img = plane / a.c;
  const int taps = a.kh * a.kw;
  const float* k = stage_kernel(a.k + int64_t(img) * taps, taps, use_shared, smem);
  const int64_t hw = int64_t(a.h) * a.w;
  const float* res = a.in + int64_t(plane) * hw;
  float* g = a.out + int64_t(plane) * hw;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < hw; t += int64_t(gridDim.x) * blockDim.x) {
    const int p = int(t / a.w), q = int(t - int64_t(p) * a.w);
    float s = 0.0f;
    for (int ih = a.inv_h_ptr[p]; ih < a.inv_h_ptr[p + 1]; ++ih) {
      const int u0 = a.inv_h_idx[ih] - (a.kh - 1);
      for (int iw = a.inv_w_ptr[q]; iw < a.inv_w_ptr[q + 1]; ++iw) {
        const int v0 = a.inv_w_idx[iw] - (a.kw - 1);
        const int ka0 = u0 < 0 ? -u0 : 0, ka1 = (a.h - u0) < a.kh ? (a.h - u0) : a.kh;
        const int kb0 = v0 < 0 ? -v0 : 0, kb1 = (a.w - v0) < a.kw ? (a.w - v0) : a.kw;
        for (int ka = ka0; ka < ka1; ++ka) {
          const float* rrow = res + int64_t(u0 + ka) * a.w + v0;
          const float* krow = k + ka * a.kw;
          for (int kb = kb0; kb < kb1; ++kb) s += krow[kb] * __ldg(rrow + kb);
        }
      }
    }
    g[t] = s;
  }
}

__global__ void reflect_pad_kernel(PadArgs a, int64_t total) {
  const int H = a.h + 2 * a.ph, W = a.w + 2 * a.pw;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int v = int(t % W);
    const int64_t r = t / W;
    const int u = int(r % H);
    const int64_t p = r / H;
    a.out[t] = a.in[(p * a.h + ops_reflect(u - a.ph, a.h)) * a.w + ops_reflect(v - a.pw, a.w)];
  }
}

__global__ void crop_kernel(PadArgs a, int64_t total) {
  const int H = a.h + 2 * a.ph, W = a.w + 2 * a.pw;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int j = int(t % a.w);
    const int64_t r = t / a.w;
    const int i = int(r % a.h);
    const int64_t p = r / a.h;
    a.out[t] = a.in[(p * H + i + a.ph) * W + a.pw + j];
  }
}

__global__ void spectrum_mul_kernel(SpectrumArgs a, int64_t total) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = t / a.m, k = t - plane * a.m;
    const OpsComplex f = a.f[(plane / a.c) * a.m + k];
    const OpsComplex x = a.x[t];
    OpsComplex o;
    o.re = x.re * f.re - x.im * f.im;
    o.im = x.re * f.im + x.im * f.re;
    a.x[t] = o;
  }
}

void conv_launch(bool adjoint, const Conv2dArgs& a, Stream s) {
  const int64_t planes = int64_t(a.n) * a.c, hw = int64_t(a.h) * a.w;
  if (planes == 0 || hw == 0) return;
  const int taps = a.kh * a.kw;
  const bool shared = taps <= kMaxSharedTaps;
  const size_t smem = shared ? size_t(taps) * sizeof(float) : 0;
  int64_t bx = (hw + 255) / 256;
  if (bx > 4096) bx = 4096;
  const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(planes));
  if (adjoint)
    conv_adjoint_kernel<<<grid, 256, smem, as_cuda_stream(s)>>>(a, shared);
  else
    conv_kernel<<<grid, 256, smem, as_cuda_stream(s)>>>(a, shared);
  RD_CUDA_CHECK_LAUNCH(adjoint ? "conv2d_reflect_adjoint" : "conv2d_reflect");
}

}  // namespace

void ops_conv2d_reflect_cuda(const Conv2dArgs& a, Stream s) { conv_launch(false, a, s); }
void ops_conv2d_reflect_adjoint_cuda(const Conv2dArgs& a, Stream s) { conv_launch(true, a, s); }

void ops_reflect_pad_cuda(const PadArgs& a, Stream s) {
  const int64_t total = a.planes * int64_t(a.h + 2 * a.ph) * (a.w + 2 * a.pw);
  if (total == 0) return;
  reflect_pad_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a, total);
  RD_CUDA_CHECK_LAUNCH("reflect_pad");
}

void ops_crop_cuda(const PadArgs& a, Stream s) {
  const int64_t total = a.planes * int64_t(a.h) * a.w;
  if (total == 0) return;
  crop_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a, total);
  RD_CUDA_CHECK_LAUNCH("crop");
}

void ops_spectrum_mul_cuda(const SpectrumArgs& a, Stream s) {
  const int64_t total = int64_t(a.n) * a.c * a.m;
  if (total == 0) return;
  spectrum_mul_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a, total);
  RD_CUDA_CHECK_LAUNCH("spectrum_mul");
}

}  // namespace reddiff
