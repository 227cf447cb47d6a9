// Element-wise operator kernels (inpaint, hdr, colorize, denoise and the generic residual), NCHW float.
#pragma once
#include "kernels/operator/common.h"

namespace reddiff {

// Per-pixel mask m [N, 1, H, W] broadcast over C:
//   MaskMul:      out = m * a
//   MaskResidual: out = m * (m * a - b)      (the fused data-term gradient J^T (A x - y) of inpainting)
struct MaskArgs {
  const float* a = nullptr;
  const float* b = nullptr;  // MaskResidual only
  const float* m = nullptr;
  float* out = nullptr;
  int n = 0, c = 0;
  int64_t hw = 0;
};
void ops_mask_mul_cpu(const MaskArgs& a, Stream s);
void ops_mask_mul_cuda(const MaskArgs& a, Stream s);
void ops_mask_residual_cpu(const MaskArgs& a, Stream s);
void ops_mask_residual_cuda(const MaskArgs& a, Stream s);

// Flat element-wise maps over count elements:
//   kind Hdr:         out = clip(2a, -1, 1)
//   kind HdrVjp:      out = d clip(2a)/da * b                      (a = x, b = cotangent)
//   kind HdrResidual: out = d clip(2a)/da * (clip(2a, -1, 1) - b)  (b = y)
//   kind Scale:       out = alpha * a
//   kind Sub:         out = a - b
//   kind Axpby:       out = alpha * a + beta * b
enum class PointwiseKind { Hdr, HdrVjp, HdrResidual, Scale, Sub, Axpby };
struct PointwiseArgs {
  PointwiseKind kind = PointwiseKind::Scale;
  const float* a = nullptr;
  const float* b = nullptr;
  float* out = nullptr;
  float alpha = 1.0f, beta = 0.0f;
  int64_t count = 0;
};
void ops_pointwise_cpu(const PointwiseArgs& a, Stream s);
void ops_pointwise_cuda(const PointwiseArgs& a, Stream s);

// Channel operations between x [N, C, H, W] and g [N, 1, H, W]:
//   Mean:     g = (1/C) sum_c x                   (colorize forward)
//   Spread:   x[:, c] = alpha * g for every c     (colorize adjoint with alpha = 1/C, pinv with alpha = 1)
//   Residual: out[:, c] = ((1/C) sum_c x - y) / C (colorize's fused J^T (A x - y)); x = in, y = in1
struct ChannelArgs {
  const float* in = nullptr;
  const float* in1 = nullptr;  // Residual: y
  float* out = nullptr;
  float alpha = 1.0f;
  int n = 0, c = 0;
  int64_t hw = 0;
};
void ops_channel_mean_cpu(const ChannelArgs& a, Stream s);
void ops_channel_mean_cuda(const ChannelArgs& a, Stream s);
void ops_channel_spread_cpu(const ChannelArgs& a, Stream s);
void ops_channel_spread_cuda(const ChannelArgs& a, Stream s);
void ops_channel_residual_cpu(const ChannelArgs& a, Stream s);
void ops_channel_residual_cuda(const ChannelArgs& a, Stream s);

}  // namespace reddiff
