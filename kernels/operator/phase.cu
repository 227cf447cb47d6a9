// CUDA twins of kernels/operator/phase.h: one thread per element.
#include "base/cuda_check.h"
#include "kernels/operator/phase.h"

namespace reddiff {
namespace {

__global__ void pack_kernel(PhasePackArgs a, int64_t total) {
  const PhaseGeom& g = a.g;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int l = int(t % g.W);
    const int64_t r = t / g.W;
    const int k = int(r % g.H);
    const int64_t p = r / g.H;
    const int u = ops_wrap(k + g.H / 2, g.H) - a.oh;
    const int v = ops_wrap(l + g.W / 2, g.W) - a.ow;
    OpsComplex o;
    o.re = (u >= 0 && u < a.sh && v >= 0 && v < a.sw) ? a.in[(p * a.sh + u) * a.sw + v] : 0.0f;
    o.im = 0.0f;
    a.buf[t] = o;
  }
}

__global__ void magnitude_kernel(PhaseMagArgs a, int64_t total) {
  const PhaseGeom& g = a.g;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int n = int(t % g.W);
    const int64_t r = t / g.W;
    const int m = int(r % g.H);
    const int64_t p = r / g.H;
    const OpsComplex u = a.u[t];
    const float re = a.scale * u.re, im = a.scale * u.im;
    a.y[(p * g.H + ops_wrap(m + g.H / 2, g.H)) * g.W + ops_wrap(n + g.W / 2, g.W)] = sqrtf(re * re + im * im);
  }
}

__global__ void weight_kernel(PhaseWeightArgs a, int64_t total) {
  const PhaseGeom& g = a.g;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int n = int(t % g.W);
    const int64_t r = t / g.W;
    const int m = int(r % g.H);
    const int64_t p = r / g.H;
    const OpsComplex u0 = a.u[t];
    OpsComplex v;
    v.re = a.scale * u0.re;
    v.im = a.scale * u0.im;
    const float tv = a.r[(p * g.H + ops_wrap(m + g.H / 2, g.H)) * g.W + ops_wrap(n + g.W / 2, g.W)];
    const float c = a.residual ? sqrtf(v.re * v.re + v.im * v.im) - tv : tv;
    a.u[t] = ops_phase_weight(v, c);
  }
}

__global__ void unpack_kernel(PhaseUnpackArgs a, int64_t total) {
  const PhaseGeom& g = a.g;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int j = int(t % g.w);
    const int64_t r = t / g.w;
    const int i = int(r % g.h);
    const int64_t p = r / g.h;
    const OpsComplex v = a.b[(p * g.H + ops_wrap(i + g.ph - g.H / 2, g.H)) * g.W + ops_wrap(j + g.pw - g.W / 2, g.W)];
    a.out[t] = a.scale * (a.modulus ? sqrtf(v.re * v.re + v.im * v.im) : v.re);
  }
}

}  // namespace

void ops_phase_pack_cuda(const PhasePackArgs& a, Stream s) {
  const int64_t total = a.g.planes * int64_t(a.g.H) * a.g.W;
  if (total == 0) return;
  pack_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a, total);
  RD_CUDA_CHECK_LAUNCH("phase_pack");
}

void ops_phase_magnitude_cuda(const PhaseMagArgs& a, Stream s) {
  const int64_t total = a.g.planes * int64_t(a.g.H) * a.g.W;
  if (total == 0) return;
  magnitude_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a, total);
  RD_CUDA_CHECK_LAUNCH("phase_magnitude");
}

void ops_phase_weight_cuda(const PhaseWeightArgs& a, Stream s) {
  const int64_t total = a.g.planes * int64_t(a.g.H) * a.g.W;
  if (total == 0) return;
  weight_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a, total);
  RD_CUDA_CHECK_LAUNCH("phase_weight");
}

void ops_phase_unpack_cuda(const PhaseUnpackArgs& a, Stream s) {
  const int64_t total = a.g.planes * int64_t(a.g.h) * a.g.w;
  if (total == 0) return;
  unpack_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a, total);
  RD_CUDA_CHECK_LAUNCH("phase_unpack");
}

}  // namespace reddiff
