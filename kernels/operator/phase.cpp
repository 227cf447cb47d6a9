// CPU twins of kernels/operator/phase.h.
#include "kernels/operator/phase.h"

namespace reddiff {

void ops_phase_pack_cpu(const PhasePackArgs& a, Stream) {
  const PhaseGeom& g = a.g;
  const int64_t rows = g.planes * g.H;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = r / g.H;
    const int k = int(r % g.H);
    const int u = ops_wrap(k + g.H / 2, g.H) - a.oh;
    OpsComplex* dst = a.buf + r * g.W;
    const bool row_in = u >= 0 && u < a.sh;
    const float* src = a.in + (p * a.sh + (row_in ? u : 0)) * a.sw;
    for (int l = 0; l < g.W; ++l) {
      const int v = ops_wrap(l + g.W / 2, g.W) - a.ow;
      dst[l].re = (row_in && v >= 0 && v < a.sw) ? src[v] : 0.0f;
      dst[l].im = 0.0f;
    }
  }
}

void ops_phase_magnitude_cpu(const PhaseMagArgs& a, Stream) {
  const PhaseGeom& g = a.g;
  const int64_t rows = g.planes * g.H;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = r / g.H;
    const int m = int(r % g.H);
    const OpsComplex* u = a.u + r * g.W;
    float* y = a.y + (p * g.H + ops_wrap(m + g.H / 2, g.H)) * g.W;
    for (int n = 0; n < g.W; ++n) {
      const float re = a.scale * u[n].re, im = a.scale * u[n].im;
      y[ops_wrap(n + g.W / 2, g.W)] = sqrtf(re * re + im * im);
    }
  }
}

void ops_phase_weight_cpu(const PhaseWeightArgs& a, Stream) {
  const PhaseGeom& g = a.g;
  const int64_t rows = g.planes * g.H;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = r / g.H;
    const int m = int(r % g.H);
    OpsComplex* u = a.u + r * g.W;
    const float* t = a.r + (p * g.H + ops_wrap(m + g.H / 2, g.H)) * g.W;
    for (int n = 0; n < g.W; ++n) {
      OpsComplex v;
      v.re = a.scale * u[n].re;
      v.im = a.scale * u[n].im;
      const float tv = t[ops_wrap(n + g.W / 2, g.W)];
      const float c = a.residual ? sqrtf(v.re * v.re + v.im * v.im) - tv : tv;
      u[n] = ops_phase_weight(v, c);
    }
  }
}

void ops_phase_unpack_cpu(const PhaseUnpackArgs& a, Stream) {
  const PhaseGeom& g = a.g;
  const int64_t rows = g.planes * g.h;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = r / g.h;
    const int i = int(r % g.h);
    const OpsComplex* b = a.b + (p * g.H + ops_wrap(i + g.ph - g.H / 2, g.H)) * g.W;
    float* out = a.out + r * g.w;
    for (int j = 0; j < g.w; ++j) {
      const OpsComplex v = b[ops_wrap(j + g.pw - g.W / 2, g.W)];
      out[j] = a.scale * (a.modulus ? sqrtf(v.re * v.re + v.im * v.im) : v.re);
    }
  }
}

}  // namespace reddiff
