// A plain direct convolution on NHWC activations and KRSC filters (f32 accumulation), used by the CUDA
// backend only for a shape where cuDNN offers no working algorithm. y = conv(x, w), no bias.
#pragma once
#include <cuda_runtime.h>

#include "base/dtype.h"

namespace reddiff {

struct ConvDirectArgs {
  const void* x = nullptr;  // [n, h, w, ci]
  const void* w = nullptr;  // [co, k, k, ci]
  void* y = nullptr;        // [n, ho, wo, co]
  DType dtype = DType::F32;
  int n = 0, h = 0, w_ = 0, ci = 0, co = 0, ho = 0, wo = 0, k = 1, stride = 1, pad = 0;
};
void conv_direct_cuda(const ConvDirectArgs& a, cudaStream_t s);

// Its adjoint (the VJP's backward-data convolution), for the same fallback: gx (+)= conv^T(gy, w).
// Sizes are the forward convolution's (h, w_, ci: gx; ho, wo, co: gy).
struct ConvBackwardDataDirectArgs {
  const void* gy = nullptr;  // [n, ho, wo, co]
  const void* w = nullptr;   // [co, k, k, ci]
  void* gx = nullptr;        // [n, h, w, ci]
  DType dtype = DType::F32;
  int n = 0, h = 0, w_ = 0, ci = 0, co = 0, ho = 0, wo = 0, k = 1, stride = 1, pad = 0;
  bool accumulate = false;
};
void conv_backward_data_direct_cuda(const ConvBackwardDataDirectArgs& a, cudaStream_t s);

}  // namespace reddiff
