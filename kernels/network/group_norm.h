// GroupNorm (statistics in f32, biased variance) fused with the ResBlock modulation and SiLU:
//   mode None:       y = GN(x)
//   mode ScaleShift: y = GN(x) * (1 + mod[n, c]) + mod[n, C + c]      (mod is [N, 2C], f32)
//   mode AddBias:    y = GN(x + mod[n, c])                             (mod is [N, C],  f32)
// then y = silu(y) when silu is set. x and y are NHWC, of dtype x_dtype / y_dtype (f32, f16 or bf16).
#pragma once
#include "kernels/kernel_common.h"

namespace reddiff {

enum class NormMod { None, ScaleShift, AddBias };

struct GroupNormArgs {
  const void* x = nullptr;
  DType x_dtype = DType::F32;
  void* y = nullptr;
  DType y_dtype = DType::F32;
  int n = 0, hw = 0, c = 0, groups = 32;
  float eps = 1e-5f;
  const float* gamma = nullptr;  // [C]
  const float* beta = nullptr;   // [C]
  const float* mod = nullptr;
  NormMod mode = NormMod::None;
  bool silu = false;
};

void group_norm_cpu(const GroupNormArgs& a, Stream s);
void group_norm_cuda(const GroupNormArgs& a, Stream s);

}  // namespace reddiff
