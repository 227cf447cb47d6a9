// Kernels of the operators' SVD views (operators/svd.h) beyond the separable matrix products that
// kernels/operator/separable.h already provides.
#pragma once
#include "kernels/operator/common.h"

namespace reddiff {

// A small matrix M (rows x cols, row-major, on the kernel's device) applied to the channel vector of every
// pixel: in [n, cols, hw] -> out [n, rows, hw],  out[i, r, p] = sum_c M[r, c] in[i, c, p].
// Colorization's V^T, V, U^T and U are such maps.
struct ChannelMatrixArgs {
  const float* in = nullptr;
  float* out = nullptr;
  const float* m = nullptr;
  int rows = 0, cols = 0;
  int n = 0;
  int64_t hw = 0;
};
void ops_channel_matrix_cpu(const ChannelMatrixArgs& a, Stream s);
void ops_channel_matrix_cuda(const ChannelMatrixArgs& a, Stream s);
inline void ops_channel_matrix_check(const ChannelMatrixArgs& a) {
  const char* k = "channel_matrix";
  kernel_require_size(a.rows, k, "matrix rows");
  kernel_require_size(a.cols, k, "matrix columns");
  const bool work = kernel_require_batch(a.n, a.rows, a.hw, k);
  kernel_require_data(a.m, work, k, "matrix");
  kernel_require_data(a.in, work, k, "input");
  kernel_require_data(a.out, work, k, "output");
  ops_require_distinct(a.in, a.out, k);
}
RD_KERNEL_DISPATCHER(ops_channel_matrix, ChannelMatrixArgs)

}  // namespace reddiff
