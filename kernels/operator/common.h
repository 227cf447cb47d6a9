// Shared pieces of the degradation-operator kernels (kernels/operator/*.{h,cpp,cu}).
//
// Operator buffers are float NCHW (the user layout, not the network's NHWC). Every kernel comes as a pair
// with one signature: name_cpu (kernels/operator/*.cpp, always built) and name_cuda (kernels/operator/*.cu,
// built with the CUDA backend), called through its dispatcher name(Device, args, stream) after the shared
// argument check (kernels/dispatch.h); pointers are host pointers for _cpu and device pointers for _cuda, and
// the _cuda twins enqueue on the given stream without synchronising. Element math both twins use lives here
// as RD_HD inline functions so that the two cannot drift apart. Operator memory comes from the Backend
// (engine/backend.h), not from here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace reddiff {

// Layout-compatible with fftwf_complex and cufftComplex.
struct OpsComplex {
  float re, im;
};

// Index into [0, n) for torch/numpy 'reflect' padding (edge not repeated), for any integer i (repeated
// reflection when i is farther than n-1 outside).
RD_HD int ops_reflect(int i, int n) {
  if (n <= 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// (i mod n) in [0, n).
RD_HD int ops_wrap(int i, int n) {
  i %= n;
  return i < 0 ? i + n : i;
}

// hdr: y = clip(2x, -1, 1). Its derivative passes where -1 <= 2x <= 1 (torch.clamp's convention: the
// bounds themselves pass the gradient).
RD_HD float ops_hdr_forward(float x) {
  const float v = 2.0f * x;
  return v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
}
RD_HD float ops_hdr_vjp(float x, float r) {
  const float v = 2.0f * x;
  return (v >= -1.0f && v <= 1.0f) ? 2.0f * r : 0.0f;
}

// Phase retrieval's data-term weight: given u = the scaled spectrum value and c the cotangent of |u|,
// returns c * u / |u| (0 where |u| = 0, as torch's abs backward).
RD_HD OpsComplex ops_phase_weight(OpsComplex u, float c) {
  const float mag = sqrtf(u.re * u.re + u.im * u.im);
  OpsComplex o;
  if (mag > 0.0f) {
    const float s = c / mag;
    o.re = u.re * s;
    o.im = u.im * s;
  } else {
    o.re = 0.0f;
    o.im = 0.0f;
  }
  return o;
}

// An image-plane batch: planes >= 0 and plane sizes >= 0; returns whether there is work.
inline bool ops_require_planes(int64_t planes, int64_t h, int64_t w, const char* kernel) {
  kernel_require_size(planes, kernel, "plane count");
  kernel_require_size(h, kernel, "height");
  kernel_require_size(w, kernel, "width");
  return planes * h * w > 0;
}
// Kernels whose output elements read several input elements cannot run in place.
inline void ops_require_distinct(const void* in, const void* out, const char* kernel) {
  if (in && in == out) kernel_arg_error(kernel, "cannot run in place (input and output are the same buffer)");
}

}  // namespace reddiff
