// GroupNorm (statistics in f32, biased variance) fused with the ResBlock modulation and SiLU:
//   mode None:       y = GN(x)
//   mode ScaleShift: y = GN(x) * (1 + mod[n, c]) + mod[n, C + c]      (mod is [N, 2C], f32)
//   mode AddBias:    y = GN(x + mod[n, c])                             (mod is [N, C],  f32)
// Image n's modulation row starts at mod + n * mod_stride (mod_stride 0: rows are dense, 2C or C wide), so
// that every ResBlock can read its slice of one batched time-embedding GEMM's output (engine/adm_unet.cpp).
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
  int mod_stride = 0;  // floats from one image's modulation row to the next; 0: dense
  NormMod mode = NormMod::None;
  bool silu = false;
};

void group_norm_cpu(const GroupNormArgs& a, Stream s);
void group_norm_cuda(const GroupNormArgs& a, Stream s);

// The floats of one image's modulation (2C scale-shift, C additive), and the distance between images' rows.
RD_HD int64_t group_norm_mod_width(NormMod mode, int c) { return mode == NormMod::ScaleShift ? 2 * int64_t(c) : c; }
RD_HD int64_t group_norm_mod_stride(int mod_stride, NormMod mode, int c) {
  return mod_stride > 0 ? mod_stride : group_norm_mod_width(mode, c);
}

// Shared by group_norm and group_norm_backward (kernels/network/group_norm_backward.h).
inline void group_norm_check_common(const char* k, int n, int hw, int c, int groups, DType x_dtype, const float* gamma,
                                    const float* beta, const float* mod, int mod_stride, NormMod mode) {
  kernel_require_size(n, k, "batch");
  kernel_require_size(hw, k, "pixel count");
  kernel_require(c > 0, k, "no channels");
  kernel_require_split(c, groups, k, "channels", "groups");
  if (mode != NormMod::None && !mod) kernel_arg_error(k, "modulation requested without its input");
  if (mod_stride < 0 || (mode != NormMod::None && mod_stride > 0 && mod_stride < group_norm_mod_width(mode, c)))
    kernel_arg_error(k, "modulation rows overlap (stride below their width)");
  if (!gamma || !beta) kernel_arg_error(k, "missing weight or bias");
  kernel_require_act_dtype(x_dtype, k);
  // One CUDA block per (image, group); the same limit on both devices.
  if (int64_t(n) * groups > 0x7fffffffLL) kernel_arg_error(k, "too many groups");
}
inline void group_norm_check(const GroupNormArgs& a) {
  const char* k = "group_norm";
  group_norm_check_common(k, a.n, a.hw, a.c, a.groups, a.x_dtype, a.gamma, a.beta, a.mod, a.mod_stride, a.mode);
  kernel_require_act_dtype(a.y_dtype, k);
  const bool work = int64_t(a.n) * a.hw > 0;
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.y, work, k, "y");
}
RD_KERNEL_DISPATCHER(group_norm, GroupNormArgs)

}  // namespace reddiff
