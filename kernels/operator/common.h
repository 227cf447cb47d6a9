// Shared pieces of the degradation-operator kernels (kernels/operator/*.{h,cpp,cu}).
//
// Operator buffers are float NCHW (the user layout, not the network's NHWC). Every kernel comes as a pair
// with one signature: name_cpu (kernels/operator/*.cpp, always built) and name_cuda (kernels/operator/*.cu,
// built with the CUDA backend); pointers are host pointers for _cpu and device pointers for _cuda, and the
// _cuda twins enqueue on the given stream without synchronising. Element math both twins use lives here as
// RD_HD inline functions so that the two cannot drift apart.
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

// ---------------------------------------------------------------- memory
// Thin wrappers so that operator code compiled by the host compiler never needs the CUDA headers.
// The _cuda versions throw reddiff::Error (exit code 1) on a CUDA failure.
void* ops_alloc_cpu(size_t bytes);
void ops_free_cpu(void* p);
void ops_upload_cpu(void* dst, const void* host_src, size_t bytes);        // synchronous
void ops_download_cpu(void* host_dst, const void* src, size_t bytes);      // synchronous
void ops_copy_cpu(void* dst, const void* src, size_t bytes, Stream s);     // device to device
void ops_zero_cpu(void* dst, size_t bytes, Stream s);
void ops_sync_cpu(Stream s);

void* ops_alloc_cuda(size_t bytes);
void ops_free_cuda(void* p);
void ops_upload_cuda(void* dst, const void* host_src, size_t bytes);
void ops_download_cuda(void* host_dst, const void* src, size_t bytes);
void ops_copy_cuda(void* dst, const void* src, size_t bytes, Stream s);
void ops_zero_cuda(void* dst, size_t bytes, Stream s);
void ops_sync_cuda(Stream s);

}  // namespace reddiff
