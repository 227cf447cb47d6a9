// Separable linear maps on image planes: one sparse matrix (CSR) applied along the width or along the
// height of every plane. Super-resolution (average pooling, bicubic, their adjoints and pseudo-inverses)
// and separable blurs (Gaussian, uniform, with reflect boundaries folded into the matrix) are built from
// these two kernels.
#pragma once
#include "kernels/operator/common.h"

namespace reddiff {

// A rows x cols matrix in CSR form; the pointers live on the kernel's device.
struct OpsCsr {
  const int* ptr = nullptr;    // rows + 1
  const int* idx = nullptr;    // column of each entry
  const float* val = nullptr;  // value of each entry
  int rows = 0, cols = 0;
};

// AlongW: in [planes, h, m.cols] -> out [planes, h, m.rows],   out[p, i, j] = sum_k m[j, k] in[p, i, k]
// AlongH: in [planes, m.cols, w] -> out [planes, m.rows, w],   out[p, i, j] = sum_k m[i, k] in[p, k, j]
// (`extent` is h for AlongW and w for AlongH.)
struct SeparableArgs {
  const float* in = nullptr;
  float* out = nullptr;
  OpsCsr m;
  int64_t planes = 0;
  int extent = 0;
};
void ops_csr_along_w_cpu(const SeparableArgs& a, Stream s);
void ops_csr_along_w_cuda(const SeparableArgs& a, Stream s);
void ops_csr_along_h_cpu(const SeparableArgs& a, Stream s);
void ops_csr_along_h_cuda(const SeparableArgs& a, Stream s);
inline void ops_csr_check(const char* k, const SeparableArgs& a) {
  kernel_require_size(a.m.rows, k, "matrix rows");
  kernel_require_size(a.m.cols, k, "matrix columns");
  const bool work = ops_require_planes(a.planes, a.extent, a.m.rows, k);
  kernel_require_data(a.m.ptr, work, k, "matrix row pointer");
  kernel_require_data(a.in, work, k, "input");
  kernel_require_data(a.out, work, k, "output");
  ops_require_distinct(a.in, a.out, k);
}
inline void ops_csr_along_w_check(const SeparableArgs& a) { ops_csr_check("csr_along_w", a); }
inline void ops_csr_along_h_check(const SeparableArgs& a) { ops_csr_check("csr_along_h", a); }
RD_KERNEL_DISPATCHER(ops_csr_along_w, SeparableArgs)
RD_KERNEL_DISPATCHER(ops_csr_along_h, SeparableArgs)

}  // namespace reddiff
