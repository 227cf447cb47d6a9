// CUDA twins of kernels/operator/fft.h: cuFFT batched 2-D plans.
#include <cufft.h>

#include "base/cuda_check.h"
#include "kernels/operator/fft.h"

namespace reddiff {
namespace {

struct CudaFftPlan {
  FftKind kind = FftKind::C2C;
  cufftHandle fwd = 0, inv = 0;  // C2C: fwd only (both directions); R2C: r2c and c2r
  bool has_fwd = false, has_inv = false;
};

void cufft_check(cufftResult r, const char* what) {
  if (r != CUFFT_SUCCESS) throw Error(std::string("cuFFT error ") + std::to_string(int(r)) + " in " + what, 1);
}

}  // namespace

OpsFftHandle ops_fft_plan_cuda(const FftPlanArgs& a) {
  auto* p = new CudaFftPlan;
  p->kind = a.kind;
  int dims[2] = {a.h, a.w};
  try {
    if (a.kind == FftKind::C2C) {
      cufft_check(cufftPlanMany(&p->fwd, 2, dims, nullptr, 1, 0, nullptr, 1, 0, CUFFT_C2C, int(a.batch)), "plan C2C");
      p->has_fwd = true;
    } else {
      cufft_check(cufftPlanMany(&p->fwd, 2, dims, nullptr, 1, 0, nullptr, 1, 0, CUFFT_R2C, int(a.batch)), "plan R2C");
      p->has_fwd = true;
      cufft_check(cufftPlanMany(&p->inv, 2, dims, nullptr, 1, 0, nullptr, 1, 0, CUFFT_C2R, int(a.batch)), "plan C2R");
      p->has_inv = true;
    }
  } catch (...) {
    if (p->has_fwd) cufftDestroy(p->fwd);
    if (p->has_inv) cufftDestroy(p->inv);
    delete p;
    throw;
  }
  return p;
}

void ops_fft_destroy_cuda(OpsFftHandle h) {
  auto* p = static_cast<CudaFftPlan*>(h);
  if (!p) return;
  if (p->has_fwd) cufftDestroy(p->fwd);
  if (p->has_inv) cufftDestroy(p->inv);
  delete p;
}

void ops_fft_c2c_cuda(const FftExecArgs& a, Stream s) {
  auto* p = static_cast<CudaFftPlan*>(a.plan);
  cufft_check(cufftSetStream(p->fwd, as_cuda_stream(s)), "set stream");
  auto* in = static_cast<cufftComplex*>(const_cast<void*>(a.in));
  auto* out = static_cast<cufftComplex*>(a.out);
  cufft_check(cufftExecC2C(p->fwd, in, out, a.direction < 0 ? CUFFT_FORWARD : CUFFT_INVERSE), "exec C2C");
}

void ops_fft_r2c_cuda(const FftExecArgs& a, Stream s) {
  auto* p = static_cast<CudaFftPlan*>(a.plan);
  cufft_check(cufftSetStream(p->fwd, as_cuda_stream(s)), "set stream");
  auto* in = static_cast<cufftReal*>(const_cast<void*>(a.in));
  cufft_check(cufftExecR2C(p->fwd, in, static_cast<cufftComplex*>(a.out)), "exec R2C");
}

void ops_fft_c2r_cuda(const FftExecArgs& a, Stream s) {
  auto* p = static_cast<CudaFftPlan*>(a.plan);
  cufft_check(cufftSetStream(p->inv, as_cuda_stream(s)), "set stream");
  auto* in = static_cast<cufftComplex*>(const_cast<void*>(a.in));
  cufft_check(cufftExecC2R(p->inv, in, static_cast<cufftReal*>(a.out)), "exec C2R");
}

}  // namespace reddiff
