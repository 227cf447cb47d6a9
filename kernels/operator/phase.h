// Phase-retrieval kernels: y = |fftshift(fft2(ifftshift(pad(x)), norm="ortho"))| per plane, its VJP
// and the official pseudo-inverse crop(|fftshift(ifft2(ifftshift(y), norm="ortho"))|). The FFTs themselves
// are kernels/operator/fft.h; these kernels do padding, the (i)fftshift index maps and the pointwise parts.
// With H, W the padded size, ifftshift reads b[k] = z[(k + H/2) mod H] and fftshift writes y[(m + H/2) mod H] = U[m].
#pragma once
#include "kernels/operator/common.h"

namespace reddiff {

struct PhaseGeom {
  int64_t planes = 0;
  int h = 0, w = 0;    // image plane
  int ph = 0, pw = 0;  // zero padding per side
  int H = 0, W = 0;    // h + 2ph, w + 2pw
};

// The geometry every phase kernel relies on (H = h + 2ph, W = w + 2pw); returns whether there is work.
inline bool phase_geom_check(const char* k, const PhaseGeom& g) {
  const bool work = ops_require_planes(g.planes, g.h, g.w, k);
  kernel_require_size(g.ph, k, "padding");
  kernel_require_size(g.pw, k, "padding");
  if (g.H != g.h + 2 * g.ph || g.W != g.w + 2 * g.pw)
    kernel_arg_error(k, "padded size " + std::to_string(g.H) + "x" + std::to_string(g.W) + " is not the image size " +
                            std::to_string(g.h) + "x" + std::to_string(g.w) + " plus twice the padding");
  return work;
}

// Pack: buf[p, k, l] = z[p, (k + H/2) mod H, (l + W/2) mod W] where z is `in` [planes, sh, sw] placed at
// offset (oh, ow) inside a zero H x W plane (image: sh = h, oh = ph; measurement: sh = H, oh = 0).
struct PhasePackArgs {
  const float* in = nullptr;
  OpsComplex* buf = nullptr;
  PhaseGeom g;
  int sh = 0, sw = 0, oh = 0, ow = 0;
};
void ops_phase_pack_cpu(const PhasePackArgs& a, Stream s);
void ops_phase_pack_cuda(const PhasePackArgs& a, Stream s);
inline void ops_phase_pack_check(const PhasePackArgs& a) {
  const char* k = "phase_pack";
  const bool work = phase_geom_check(k, a.g);
  kernel_require_size(a.sh, k, "source height");
  kernel_require_size(a.sw, k, "source width");
  kernel_require_data(a.in, work, k, "input");
  kernel_require_data(a.buf, work, k, "spectrum");
}
RD_KERNEL_DISPATCHER(ops_phase_pack, PhasePackArgs)

// Magnitude: y[p, (m + H/2) mod H, (n + W/2) mod W] = scale * |U[p, m, n]|.
struct PhaseMagArgs {
  const OpsComplex* u = nullptr;
  float* y = nullptr;
  float scale = 1.0f;
  PhaseGeom g;
};
void ops_phase_magnitude_cpu(const PhaseMagArgs& a, Stream s);
void ops_phase_magnitude_cuda(const PhaseMagArgs& a, Stream s);
inline void ops_phase_magnitude_check(const PhaseMagArgs& a) {
  const bool work = phase_geom_check("phase_magnitude", a.g);
  kernel_require_data(a.u, work, "phase_magnitude", "spectrum");
  kernel_require_data(a.y, work, "phase_magnitude", "output");
}
RD_KERNEL_DISPATCHER(ops_phase_magnitude, PhaseMagArgs)

// Weight (in place): with u = scale * U[p, m, n] and t = the shifted entry of `r`,
//   U[p, m, n] = ops_phase_weight(u, residual ? |u| - t : t)
// (residual: r is the measurement y and the result is the cotangent of 0.5 ||A x - y||^2).
struct PhaseWeightArgs {
  OpsComplex* u = nullptr;
  const float* r = nullptr;
  float scale = 1.0f;
  bool residual = false;
  PhaseGeom g;
};
void ops_phase_weight_cpu(const PhaseWeightArgs& a, Stream s);
void ops_phase_weight_cuda(const PhaseWeightArgs& a, Stream s);
inline void ops_phase_weight_check(const PhaseWeightArgs& a) {
  const bool work = phase_geom_check("phase_weight", a.g);
  kernel_require_data(a.u, work, "phase_weight", "spectrum");
  kernel_require_data(a.r, work, "phase_weight", "cotangent");
}
RD_KERNEL_DISPATCHER(ops_phase_weight, PhaseWeightArgs)

// Unpack: out[p, i, j] = scale * f(B[p, (i + ph - H/2) mod H, (j + pw - W/2) mod W]) with f = real part
// (VJP) or modulus (pseudo-inverse): fftshift, then crop the image region.
struct PhaseUnpackArgs {
  const OpsComplex* b = nullptr;
  float* out = nullptr;
  float scale = 1.0f;
  bool modulus = false;
  PhaseGeom g;
};
void ops_phase_unpack_cpu(const PhaseUnpackArgs& a, Stream s);
void ops_phase_unpack_cuda(const PhaseUnpackArgs& a, Stream s);
inline void ops_phase_unpack_check(const PhaseUnpackArgs& a) {
  const bool work = phase_geom_check("phase_unpack", a.g);
  kernel_require_data(a.b, work, "phase_unpack", "spectrum");
  kernel_require_data(a.out, work, "phase_unpack", "output");
}
RD_KERNEL_DISPATCHER(ops_phase_unpack, PhaseUnpackArgs)

}  // namespace reddiff
