// CPU twins of kernels/operator/pointwise.h.
#include "kernels/operator/pointwise.h"

namespace reddiff {

void ops_mask_mul_cpu(const MaskArgs& a, Stream) {
  const int64_t planes = int64_t(a.n) * a.c;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    const float* m = a.m + (p / a.c) * a.hw;
    const float* x = a.a + p * a.hw;
    float* o = a.out + p * a.hw;
    for (int64_t i = 0; i < a.hw; ++i) o[i] = m[i] * x[i];
  }
}

void ops_mask_residual_cpu(const MaskArgs& a, Stream) {
  const int64_t planes = int64_t(a.n) * a.c;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    const float* m = a.m + (p / a.c) * a.hw;
    const float* x = a.a + p * a.hw;
    const float* y = a.b + p * a.hw;
    float* o = a.out + p * a.hw;
    for (int64_t i = 0; i < a.hw; ++i) o[i] = m[i] * (m[i] * x[i] - y[i]);
  }
}

void ops_pointwise_cpu(const PointwiseArgs& a, Stream) {
  const float* x = a.a;
  const float* y = a.b;
  float* o = a.out;
  const int64_t n = a.count;
  switch (a.kind) {
    case PointwiseKind::Hdr:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) o[i] = ops_hdr_forward(x[i]);
      break;
    case PointwiseKind::HdrVjp:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) o[i] = ops_hdr_vjp(x[i], y[i]);
      break;
    case PointwiseKind::HdrResidual:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) o[i] = ops_hdr_vjp(x[i], ops_hdr_forward(x[i]) - y[i]);
      break;
    case PointwiseKind::Scale:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) o[i] = a.alpha * x[i];
      break;
    case PointwiseKind::Sub:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) o[i] = x[i] - y[i];
      break;
    case PointwiseKind::Axpby:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) o[i] = a.alpha * x[i] + a.beta * y[i];
      break;
  }
}

void ops_channel_mean_cpu(const ChannelArgs& a, Stream) {
  const float inv = 1.0f / float(a.c);
  for (int b = 0; b < a.n; ++b) {
    const float* x = a.in + int64_t(b) * a.c * a.hw;
    float* g = a.out + int64_t(b) * a.hw;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < a.hw; ++i) {
      float s = 0.0f;
      for (int c = 0; c < a.c; ++c) s += x[int64_t(c) * a.hw + i];
      g[i] = s * inv;
    }
  }
}

void ops_channel_spread_cpu(const ChannelArgs& a, Stream) {
  for (int b = 0; b < a.n; ++b) {
    const float* g = a.in + int64_t(b) * a.hw;
    float* x = a.out + int64_t(b) * a.c * a.hw;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < a.hw; ++i) {
      const float v = a.alpha * g[i];
      for (int c = 0; c < a.c; ++c) x[int64_t(c) * a.hw + i] = v;
    }
  }
}

void ops_channel_residual_cpu(const ChannelArgs& a, Stream) {
  const float inv = 1.0f / float(a.c);
  for (int b = 0; b < a.n; ++b) {
    const float* x = a.in + int64_t(b) * a.c * a.hw;
    const float* y = a.in1 + int64_t(b) * a.hw;
    float* g = a.out + int64_t(b) * a.c * a.hw;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < a.hw; ++i) {
      float s = 0.0f;
      for (int c = 0; c < a.c; ++c) s += x[int64_t(c) * a.hw + i];
      const float v = (s * inv - y[i]) * inv;
      for (int c = 0; c < a.c; ++c) g[int64_t(c) * a.hw + i] = v;
    }
  }
}

}  // namespace reddiff
