// The CPU twins' matrix product: single-precision GEMM, row-major (C = alpha op(A) op(B) + beta C, as
// cblas_sgemm with CblasRowMajor), run by oneDNN's GEMM, whose kernels are chosen by the instructions the CPU
// has (cpuid), never by a table of CPU models. Called inside the kernels' own OpenMP loops it runs on the
// calling thread.
#pragma once
#include <cstdint>

namespace reddiff {

void sgemm_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace reddiff
