// Batched 2-D FFTs of image planes: FFTW (single precision) on the CPU, cuFFT on the GPU. Transforms are
// unnormalised with numpy's sign convention (forward exp(-i...), inverse exp(+i...)); callers scale.
// A plan is an opaque handle made for one (kind, h, w, batch); the CPU plan runs planes in parallel
// (OpenMP). C2C plans work in place or out of place; R2C/C2R plans are out of place, the complex side
// having h x (w/2 + 1) entries per plane, and C2R may overwrite its input.
#pragma once
#include "kernels/operator/common.h"

namespace reddiff {

enum class FftKind { C2C, R2C };  // R2C plans do both r2c (forward) and c2r (inverse)
using OpsFftHandle = void*;

struct FftPlanArgs {
  FftKind kind = FftKind::C2C;
  int h = 0, w = 0;
  int64_t batch = 0;
};
OpsFftHandle ops_fft_plan_cpu(const FftPlanArgs& a);
OpsFftHandle ops_fft_plan_cuda(const FftPlanArgs& a);
void ops_fft_destroy_cpu(OpsFftHandle p);
void ops_fft_destroy_cuda(OpsFftHandle p);

// C2C: direction -1 forward, +1 inverse; in may equal out.
struct FftExecArgs {
  OpsFftHandle plan = nullptr;
  const void* in = nullptr;
  void* out = nullptr;
  int direction = -1;
};
void ops_fft_c2c_cpu(const FftExecArgs& a, Stream s);
void ops_fft_c2c_cuda(const FftExecArgs& a, Stream s);
void ops_fft_r2c_cpu(const FftExecArgs& a, Stream s);   // in float, out OpsComplex
void ops_fft_r2c_cuda(const FftExecArgs& a, Stream s);
void ops_fft_c2r_cpu(const FftExecArgs& a, Stream s);   // in OpsComplex (may be overwritten), out float
void ops_fft_c2r_cuda(const FftExecArgs& a, Stream s);

}  // namespace reddiff
