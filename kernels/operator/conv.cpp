// CPU twins of kernels/operator/conv.h.
#include "kernels/operator/conv.h"

namespace reddiff {

void ops_conv2d_reflect_cpu(const Conv2dArgs& a, Stream) {
  const int64_t hw = int64_t(a.h) * a.w;
  const int64_t rows = int64_t(a.n) * a.c * a.h;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int p = int(r % a.h);
    const int64_t plane = r / a.h;
    const int img = int(plane / a.c);
    const float* x = a.in + plane * hw;
    const float* k = a.k + int64_t(img) * a.kh * a.kw;
    float* y = a.out + plane * hw + int64_t(p) * a.w;
    for (int q = 0; q < a.w; ++q) {
      float s = 0.0f;
      for (int ka = 0; ka < a.kh; ++ka) {
        const float* xrow = x + int64_t(a.rh[p + a.kh - 1 - ka]) * a.w;
        const float* krow = k + int64_t(ka) * a.kw;
        const int* rw = a.rw + q + a.kw - 1;
        for (int kb = 0; kb < a.kw; ++kb) s += krow[kb] * xrow[rw[-kb]];
      }
      y[q] = s;
    }
  }
}

void ops_conv2d_reflect_adjoint_cpu(const Conv2dArgs& a, Stream) {
  const int64_t hw = int64_t(a.h) * a.w;
  const int64_t rows = int64_t(a.n) * a.c * a.h;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int p = int(r % a.h);
    const int64_t plane = r / a.h;
    const int img = int(plane / a.c);
    const float* res = a.in + plane * hw;
    const float* k = a.k + int64_t(img) * a.kh * a.kw;
    float* g = a.out + plane * hw + int64_t(p) * a.w;
    for (int q = 0; q < a.w; ++q) {
      float s = 0.0f;
      for (int ih = a.inv_h_ptr[p]; ih < a.inv_h_ptr[p + 1]; ++ih) {
        const int u0 = a.inv_h_idx[ih] - (a.kh - 1);
        for (int iw = a.inv_w_ptr[q]; iw < a.inv_w_ptr[q + 1]; ++iw) {
          const int v0 = a.inv_w_idx[iw] - (a.kw - 1);
          const int ka0 = u0 < 0 ? -u0 : 0, ka1 = (a.h - u0) < a.kh ? (a.h - u0) : a.kh;
          const int kb0 = v0 < 0 ? -v0 : 0, kb1 = (a.w - v0) < a.kw ? (a.w - v0) : a.kw;
          for (int ka = ka0; ka < ka1; ++ka) {
            const float* rrow = res + int64_t(u0 + ka) * a.w + v0;
            const float* krow = k + int64_t(ka) * a.kw;
            for (int kb = kb0; kb < kb1; ++kb) s += krow[kb] * rrow[kb];
          }
        }
      }
      g[q] = s;
    }
  }
}

void ops_reflect_pad_cpu(const PadArgs& a, Stream) {
  const int H = a.h + 2 * a.ph, W = a.w + 2 * a.pw;
  const int64_t rows = a.planes * H;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = r / H;
    const int u = int(r % H);
    const float* src = a.in + (p * a.h + ops_reflect(u - a.ph, a.h)) * a.w;
    float* dst = a.out + r * W;
    for (int v = 0; v < W; ++v) dst[v] = src[ops_reflect(v - a.pw, a.w)];
  }
}

void ops_crop_cpu(const PadArgs& a, Stream) {
  const int H = a.h + 2 * a.ph, W = a.w + 2 * a.pw;
  const int64_t rows = a.planes * a.h;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = r / a.h;
    const int i = int(r % a.h);
    const float* src = a.in + (p * H + i + a.ph) * W + a.pw;
    float* dst = a.out + r * a.w;
    for (int j = 0; j < a.w; ++j) dst[j] = src[j];
  }
}

void ops_spectrum_mul_cpu(const SpectrumArgs& a, Stream) {
  const int64_t planes = int64_t(a.n) * a.c;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    OpsComplex* x = a.x + p * a.m;
    const OpsComplex* f = a.f + (p / a.c) * a.m;
    for (int64_t k = 0; k < a.m; ++k) {
      const float re = x[k].re * f[k].re - x[k].im * f[k].im;
      const float im = x[k].re * f[k].im + x[k].im * f[k].re;
      x[k].re = re;
      x[k].im = im;
    }
  }
}

}  // namespace reddiff
