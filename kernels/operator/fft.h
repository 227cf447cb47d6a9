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
inline void ops_fft_plan_check(const FftPlanArgs& a) {
  if (a.h <= 0 || a.w <= 0 || a.batch <= 0) kernel_arg_error("FFT plan", "empty transform");
  if (a.batch > 0x7fffffff) kernel_arg_error("FFT plan", "batch too large");  // cuFFT's and FFTW's int
}
// The plan of the twin of `device`, for FftExecArgs::plan; released by ops_fft_destroy on the same device.
inline OpsFftHandle ops_fft_plan(Device device, const FftPlanArgs& a) {
  ops_fft_plan_check(a);
  return RD_TWIN(device, ops_fft_plan, a);
}
inline void ops_fft_destroy(Device device, OpsFftHandle p) { RD_TWIN(device, ops_fft_destroy, p); }

// C2C: direction -1 forward, +1 inverse; in may equal out.
struct FftExecArgs {
  OpsFftHandle plan = nullptr;
  const void* in = nullptr;
  void* out = nullptr;
  int direction = -1;
};
void ops_fft_c2c_cpu(const FftExecArgs& a, Stream s);
void ops_fft_c2c_cuda(const FftExecArgs& a, Stream s);
void ops_fft_r2c_cpu(const FftExecArgs& a, Stream s);  // in float, out OpsComplex
void ops_fft_r2c_cuda(const FftExecArgs& a, Stream s);
void ops_fft_c2r_cpu(const FftExecArgs& a, Stream s);  // in OpsComplex (may be overwritten), out float
void ops_fft_c2r_cuda(const FftExecArgs& a, Stream s);
inline void ops_fft_exec_check(const char* k, const FftExecArgs& a, bool in_place_ok) {
  kernel_require_data(a.plan, true, k, "plan");
  kernel_require_data(a.in, true, k, "input");
  kernel_require_data(a.out, true, k, "output");
  if (!in_place_ok) ops_require_distinct(a.in, a.out, k);
}
inline void ops_fft_c2c_check(const FftExecArgs& a) {
  ops_fft_exec_check("fft_c2c", a, true);
  if (a.direction != -1 && a.direction != 1) kernel_arg_error("fft_c2c", "direction must be -1 or +1");
}
inline void ops_fft_r2c_check(const FftExecArgs& a) { ops_fft_exec_check("fft_r2c", a, false); }
inline void ops_fft_c2r_check(const FftExecArgs& a) { ops_fft_exec_check("fft_c2r", a, false); }
RD_KERNEL_DISPATCHER(ops_fft_c2c, FftExecArgs)
RD_KERNEL_DISPATCHER(ops_fft_r2c, FftExecArgs)
RD_KERNEL_DISPATCHER(ops_fft_c2r, FftExecArgs)

}  // namespace reddiff
