// sgemm_cpu through oneDNN's dnnl_sgemm (kernels/cpu_gemm.h).
#include "kernels/cpu_gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <string>

#include "base/error.h"

namespace reddiff {

void sgemm_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const dnnl_status_t st =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl_success) throw Error("oneDNN sgemm failed (status " + std::to_string(int(st)) + ")", 1);
}

}  // namespace reddiff
