// Non-separable 2-D blur with reflect boundaries (torch/numpy 'reflect'), its exact adjoint, and the
// pieces of the Fourier-domain (Wiener) pseudo-inverse.
#pragma once
#include "kernels/operator/common.h"

namespace reddiff {

// True convolution of every channel of image i with the kernel k[i] (kh x kw, centre (kh/2, kw/2)):
//   y[i, c, p, q] = sum_{a, b} k[i, a, b] * x[i, c, rh[p + kh-1 - a], rw[q + kw-1 - b]]
// where rh (length h + kh - 1) maps a padded row to an image row: rh[u] = reflect(u - (kh-1 - kh/2), h),
// and rw likewise. The adjoint gathers, for each image pixel (p, q), every padded position that reflects
// onto it (inv_h: CSR over image rows listing padded rows u with rh[u] = p; inv_w likewise):
//   g[i, c, p, q] = sum_{u in inv_h(p)} sum_{v in inv_w(q)} sum_{a, b} k[i, a, b] r[i, c, u - (kh-1) + a, v - (kw-1) +
//   b]
// with r taken as 0 outside the image.
struct Conv2dArgs {
  const float* in = nullptr;
  float* out = nullptr;
  const float* k = nullptr;  // [n, kh, kw]
  const int* rh = nullptr;
  const int* rw = nullptr;
  const int* inv_h_ptr = nullptr;  // h + 1
  const int* inv_h_idx = nullptr;
  const int* inv_w_ptr = nullptr;  // w + 1
  const int* inv_w_idx = nullptr;
  int n = 0, c = 0, h = 0, w = 0, kh = 0, kw = 0;
};
void ops_conv2d_reflect_cpu(const Conv2dArgs& a, Stream s);
void ops_conv2d_reflect_cuda(const Conv2dArgs& a, Stream s);
void ops_conv2d_reflect_adjoint_cpu(const Conv2dArgs& a, Stream s);
void ops_conv2d_reflect_adjoint_cuda(const Conv2dArgs& a, Stream s);
inline bool ops_conv2d_check_common(const char* k, const Conv2dArgs& a) {
  kernel_require_size(a.n, k, "batch");
  kernel_require_size(a.c, k, "channel count");
  const bool work = ops_require_planes(int64_t(a.n) * a.c, a.h, a.w, k);
  kernel_require(a.kh >= 1 && a.kw >= 1, k, "empty blur kernel");
  // The CUDA grid has one row per image plane; the same limit on both devices.
  if (int64_t(a.n) * a.c > 65535) kernel_arg_error(k, "more than 65535 image planes in one batch");
  kernel_require_data(a.in, work, k, "input");
  kernel_require_data(a.out, work, k, "output");
  kernel_require_data(a.k, work, k, "blur kernel");
  ops_require_distinct(a.in, a.out, k);
  return work;
}
inline void ops_conv2d_reflect_check(const Conv2dArgs& a) {
  const char* k = "conv2d_reflect";
  const bool work = ops_conv2d_check_common(k, a);
  kernel_require_data(a.rh, work, k, "row reflection table");
  kernel_require_data(a.rw, work, k, "column reflection table");
}
inline void ops_conv2d_reflect_adjoint_check(const Conv2dArgs& a) {
  const char* k = "conv2d_reflect_adjoint";
  const bool work = ops_conv2d_check_common(k, a);
  kernel_require_data(a.inv_h_ptr, work, k, "inverse row table");
  kernel_require_data(a.inv_h_idx, work, k, "inverse row table");
  kernel_require_data(a.inv_w_ptr, work, k, "inverse column table");
  kernel_require_data(a.inv_w_idx, work, k, "inverse column table");
}
RD_KERNEL_DISPATCHER(ops_conv2d_reflect, Conv2dArgs)
RD_KERNEL_DISPATCHER(ops_conv2d_reflect_adjoint, Conv2dArgs)

// Pad:  out [planes, h + 2ph, w + 2pw] = reflect-padded in [planes, h, w]
// Crop: out [planes, h, w] = in [planes, h + 2ph, w + 2pw][ph : ph + h, pw : pw + w]
struct PadArgs {
  const float* in = nullptr;
  float* out = nullptr;
  int64_t planes = 0;
  int h = 0, w = 0, ph = 0, pw = 0;
};
void ops_reflect_pad_cpu(const PadArgs& a, Stream s);
void ops_reflect_pad_cuda(const PadArgs& a, Stream s);
void ops_crop_cpu(const PadArgs& a, Stream s);
void ops_crop_cuda(const PadArgs& a, Stream s);
inline void ops_pad_check_common(const char* k, const PadArgs& a) {
  const bool work = ops_require_planes(a.planes, a.h, a.w, k);
  kernel_require_size(a.ph, k, "padding");
  kernel_require_size(a.pw, k, "padding");
  kernel_require_data(a.in, work, k, "input");
  kernel_require_data(a.out, work, k, "output");
  ops_require_distinct(a.in, a.out, k);
}
inline void ops_reflect_pad_check(const PadArgs& a) { ops_pad_check_common("reflect_pad", a); }
inline void ops_crop_check(const PadArgs& a) { ops_pad_check_common("crop", a); }
RD_KERNEL_DISPATCHER(ops_reflect_pad, PadArgs)
RD_KERNEL_DISPATCHER(ops_crop, PadArgs)

// Spectrum filter: X[i, c, k] *= F[i, k] for k < m (complex; F has one spectrum per image).
struct SpectrumArgs {
  OpsComplex* x = nullptr;
  const OpsComplex* f = nullptr;
  int n = 0, c = 0;
  int64_t m = 0;
};
void ops_spectrum_mul_cpu(const SpectrumArgs& a, Stream s);
void ops_spectrum_mul_cuda(const SpectrumArgs& a, Stream s);
inline void ops_spectrum_mul_check(const SpectrumArgs& a) {
  const char* k = "spectrum_mul";
  kernel_require_size(a.n, k, "batch");
  const bool work = ops_require_planes(int64_t(a.n) * a.c, 1, a.m, k);
  kernel_require_data(a.x, work, k, "spectrum");
  kernel_require_data(a.f, work, k, "filter");
}
RD_KERNEL_DISPATCHER(ops_spectrum_mul, SpectrumArgs)

}  // namespace reddiff
