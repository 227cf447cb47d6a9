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
//   g[i, c, p, q] = sum_{u in inv_h(p)} sum_{v in inv_w(q)} sum_{a, b} k[i, a, b] r[i, c, u - (kh-1) + a, v - (kw-1) + b]
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

// Spectrum filter: X[i, c, k] *= F[i, k] for k < m (complex; F has one spectrum per image).
struct SpectrumArgs {
  OpsComplex* x = nullptr;
  const OpsComplex* f = nullptr;
  int n = 0, c = 0;
  int64_t m = 0;
};
void ops_spectrum_mul_cpu(const SpectrumArgs& a, Stream s);
void ops_spectrum_mul_cuda(const SpectrumArgs& a, Stream s);

}  // namespace reddiff
