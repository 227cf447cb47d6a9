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
inline bool ops_mask_check_common(const char* k, const MaskArgs& a) {
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require_data(a.a, work, k, "input");
  kernel_require_data(a.m, work, k, "mask");
  kernel_require_data(a.out, work, k, "output");
  return work;
}
inline void ops_mask_mul_check(const MaskArgs& a) { ops_mask_check_common("mask_mul", a); }
inline void ops_mask_residual_check(const MaskArgs& a) {
  kernel_require_data(a.b, ops_mask_check_common("mask_residual", a), "mask_residual", "measurement");
}
RD_KERNEL_DISPATCHER(ops_mask_mul, MaskArgs)
RD_KERNEL_DISPATCHER(ops_mask_residual, MaskArgs)

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
inline void ops_pointwise_check(const PointwiseArgs& a) {
  const char* k = "pointwise";
  kernel_require_size(a.count, k, "element count");
  const bool work = a.count > 0, two = a.kind != PointwiseKind::Hdr && a.kind != PointwiseKind::Scale;
  kernel_require_data(a.a, work, k, "a");
  kernel_require_data(a.b, work && two, k, "b");
  kernel_require_data(a.out, work, k, "output");
}
RD_KERNEL_DISPATCHER(ops_pointwise, PointwiseArgs)

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
inline bool ops_channel_check_common(const char* k, const ChannelArgs& a) {
  const bool work = kernel_require_batch(a.n, a.c, a.hw, k);
  kernel_require(a.c > 0 || a.n * a.hw == 0, k, "no channels");
  kernel_require_data(a.in, work, k, "input");
  kernel_require_data(a.out, work, k, "output");
  ops_require_distinct(a.in, a.out, k);
  return work;
}
inline void ops_channel_mean_check(const ChannelArgs& a) { ops_channel_check_common("channel_mean", a); }
inline void ops_channel_spread_check(const ChannelArgs& a) { ops_channel_check_common("channel_spread", a); }
inline void ops_channel_residual_check(const ChannelArgs& a) {
  kernel_require_data(a.in1, ops_channel_check_common("channel_residual", a), "channel_residual", "measurement");
}
RD_KERNEL_DISPATCHER(ops_channel_mean, ChannelArgs)
RD_KERNEL_DISPATCHER(ops_channel_spread, ChannelArgs)
RD_KERNEL_DISPATCHER(ops_channel_residual, ChannelArgs)

}  // namespace reddiff
