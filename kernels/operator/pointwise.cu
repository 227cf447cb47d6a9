// CUDA twins of kernels/operator/pointwise.h.
#include "base/cuda_check.h"
#include "kernels/operator/pointwise.h"

namespace reddiff {
namespace {

__global__ void mask_mul_kernel(const float* __restrict__ x, const float* __restrict__ m, float* __restrict__ o, int c,
                                int64_t hw, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = i / hw, pix = i - plane * hw;
    o[i] = m[(plane / c) * hw + pix] * x[i];
  }
}

__global__ void mask_residual_kernel(const float* __restrict__ x, const float* __restrict__ y,
                                     const float* __restrict__ m, float* __restrict__ o, int c, int64_t hw,
                                     int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = i / hw, pix = i - plane * hw;
    const float mv = m[(plane / c) * hw + pix];
    o[i] = mv * (mv * x[i] - y[i]);
  }
}

__global__ void pointwise_kernel(PointwiseKind kind, const float* __restrict__ a, const float* __restrict__ b,
                                 float* __restrict__ o, float alpha, float beta, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    switch (kind) {
      case PointwiseKind::Hdr:
        v = ops_hdr_forward(a[i]);
        break;
      case PointwiseKind::HdrVjp:
        v = ops_hdr_vjp(a[i], b[i]);
        break;
      case PointwiseKind::HdrResidual:
        v = ops_hdr_vjp(a[i], ops_hdr_forward(a[i]) - b[i]);
        break;
      case PointwiseKind::Scale:
        v = alpha * a[i];
        break;
      case PointwiseKind::Sub:
        v = a[i] - b[i];
        break;
      case PointwiseKind::Axpby:
        v = alpha * a[i] + beta * b[i];
        break;
    }
    o[i] = v;
  }
}

// mode 0: mean, 1: spread, 2: residual. One thread per (image, pixel).
__global__ void channel_kernel(int mode, const float* __restrict__ in, const float* __restrict__ in1,
                               float* __restrict__ out, float alpha, int c, int64_t hw, int64_t total) {
  const float inv = 1.0f / float(c);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / hw, pix = i - b * hw;
    if (mode == 1) {
      const float v = alpha * in[i];
      for (int ch = 0; ch < c; ++ch) out[(b * c + ch) * hw + pix] = v;
      continue;
    }
    float s = 0.0f;
    for (int ch = 0; ch < c; ++ch) s += in[(b * c + ch) * hw + pix];
    if (mode == 0) {
      out[i] = s * inv;
    } else {
      const float v = (s * inv - in1[i]) * inv;
      for (int ch = 0; ch < c; ++ch) out[(b * c + ch) * hw + pix] = v;
    }
  }
}

}  // namespace

void ops_mask_mul_cuda(const MaskArgs& a, Stream s) {
  const int64_t total = int64_t(a.n) * a.c * a.hw;
  if (total == 0) return;
  mask_mul_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a.a, a.m, a.out, a.c, a.hw, total);
  RD_CUDA_CHECK_LAUNCH("mask_mul");
}

void ops_mask_residual_cuda(const MaskArgs& a, Stream s) {
  const int64_t total = int64_t(a.n) * a.c * a.hw;
  if (total == 0) return;
  mask_residual_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a.a, a.b, a.m, a.out, a.c, a.hw, total);
  RD_CUDA_CHECK_LAUNCH("mask_residual");
}

void ops_pointwise_cuda(const PointwiseArgs& a, Stream s) {
  if (a.count == 0) return;
  pointwise_kernel<<<grid_for(a.count), 256, 0, as_cuda_stream(s)>>>(a.kind, a.a, a.b, a.out, a.alpha, a.beta, a.count);
  RD_CUDA_CHECK_LAUNCH("pointwise");
}

static void channel_launch(int mode, const ChannelArgs& a, Stream s) {
  const int64_t total = int64_t(a.n) * a.hw;
  if (total == 0) return;
  channel_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(mode, a.in, a.in1, a.out, a.alpha, a.c, a.hw, total);
  RD_CUDA_CHECK_LAUNCH("channel op");
}
void ops_channel_mean_cuda(const ChannelArgs& a, Stream s) { channel_launch(0, a, s); }
void ops_channel_spread_cuda(const ChannelArgs& a, Stream s) { channel_launch(1, a, s); }
void ops_channel_residual_cuda(const ChannelArgs& a, Stream s) { channel_launch(2, a, s); }

}  // namespace reddiff
