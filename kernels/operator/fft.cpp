// CPU twins of kernels/operator/fft.h: FFTW single precision. One plane-sized plan is made with
// FFTW_ESTIMATE | FFTW_UNALIGNED and executed on every plane through the new-array interface, planes in
// parallel (executing a plan is thread-safe; planning is not, hence the mutex).
#include <fftw3.h>

#include <mutex>
#include <string>

#include "base/error.h"
#include "kernels/operator/fft.h"

namespace reddiff {
namespace {

std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

struct CpuFftPlan {
  FftKind kind = FftKind::C2C;
  int h = 0, w = 0;
  int64_t batch = 0;
  fftwf_plan fwd = nullptr, inv = nullptr;          // C2C: in place; R2C: r2c / c2r
  fftwf_plan fwd_oop = nullptr, inv_oop = nullptr;  // C2C out of place
};

}  // namespace

OpsFftHandle ops_fft_plan_cpu(const FftPlanArgs& a) {
  auto* p = new CpuFftPlan;
  p->kind = a.kind;
  p->h = a.h;
  p->w = a.w;
  p->batch = a.batch;
  const size_t n = size_t(a.h) * a.w;
  std::lock_guard<std::mutex> lock(planner_mutex());
  const unsigned flags = FFTW_ESTIMATE | FFTW_UNALIGNED;
  if (a.kind == FftKind::C2C) {
    fftwf_complex* b0 = fftwf_alloc_complex(n);
    fftwf_complex* b1 = fftwf_alloc_complex(n);
    p->fwd = fftwf_plan_dft_2d(a.h, a.w, b0, b0, FFTW_FORWARD, flags);
    p->inv = fftwf_plan_dft_2d(a.h, a.w, b0, b0, FFTW_BACKWARD, flags);
    p->fwd_oop = fftwf_plan_dft_2d(a.h, a.w, b0, b1, FFTW_FORWARD, flags);
    p->inv_oop = fftwf_plan_dft_2d(a.h, a.w, b0, b1, FFTW_BACKWARD, flags);
    fftwf_free(b0);
    fftwf_free(b1);
  } else {
    float* r = fftwf_alloc_real(n);
    fftwf_complex* c = fftwf_alloc_complex(size_t(a.h) * (a.w / 2 + 1));
    p->fwd = fftwf_plan_dft_r2c_2d(a.h, a.w, r, c, flags);
    p->inv = fftwf_plan_dft_c2r_2d(a.h, a.w, c, r, flags);
    fftwf_free(r);
    fftwf_free(c);
  }
  if (!p->fwd || !p->inv) {
    delete p;
    throw Error("FFTW could not plan a " + std::to_string(a.h) + "x" + std::to_string(a.w) + " transform", 1);
  }
  return p;
}

void ops_fft_destroy_cpu(OpsFftHandle h) {
  auto* p = static_cast<CpuFftPlan*>(h);
  if (!p) return;
  std::lock_guard<std::mutex> lock(planner_mutex());
  for (fftwf_plan q : {p->fwd, p->inv, p->fwd_oop, p->inv_oop})
    if (q) fftwf_destroy_plan(q);
  delete p;
}

void ops_fft_c2c_cpu(const FftExecArgs& a, Stream) {
  auto* p = static_cast<CpuFftPlan*>(a.plan);
  const int64_t n = int64_t(p->h) * p->w;
  const bool in_place = a.in == a.out;
  fftwf_plan plan = a.direction < 0 ? (in_place ? p->fwd : p->fwd_oop) : (in_place ? p->inv : p->inv_oop);
  auto* in = reinterpret_cast<fftwf_complex*>(const_cast<void*>(a.in));
  auto* out = reinterpret_cast<fftwf_complex*>(a.out);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < p->batch; ++b) fftwf_execute_dft(plan, in + b * n, out + b * n);
}

void ops_fft_r2c_cpu(const FftExecArgs& a, Stream) {
  auto* p = static_cast<CpuFftPlan*>(a.plan);
  const int64_t nr = int64_t(p->h) * p->w, nc = int64_t(p->h) * (p->w / 2 + 1);
  auto* in = static_cast<float*>(const_cast<void*>(a.in));
  auto* out = reinterpret_cast<fftwf_complex*>(a.out);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < p->batch; ++b) fftwf_execute_dft_r2c(p->fwd, in + b * nr, out + b * nc);
}

void ops_fft_c2r_cpu(const FftExecArgs& a, Stream) {
  auto* p = static_cast<CpuFftPlan*>(a.plan);
  const int64_t nr = int64_t(p->h) * p->w, nc = int64_t(p->h) * (p->w / 2 + 1);
  auto* in = reinterpret_cast<fftwf_complex*>(const_cast<void*>(a.in));
  auto* out = static_cast<float*>(a.out);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < p->batch; ++b) fftwf_execute_dft_c2r(p->inv, in + b * nc, out + b * nr);
}

}  // namespace reddiff
