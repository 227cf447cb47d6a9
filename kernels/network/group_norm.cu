// CUDA twin of kernels/network/group_norm.cpp: GroupNorm with the ResBlock modulation and SiLU fused in one
// kernel. One block per (image, group): a statistics pass (shifted sums in f32, reduced across the
// block) and an apply pass that reads x again (mostly from L2) and writes y once.
// TODO(perf, measure on the H100): at 256x256 there are only N*32 blocks for 132 SMs and a group's
// channels are a short run per pixel; a split-statistics variant (or a cluster reduction on sm_90)
// and a shared-memory copy of groups that fit (true single read) may be faster.
#include "base/cuda_check.h"
#include "kernels/network/group_norm.h"

namespace reddiff {

namespace {

constexpr int kGnBlock = 1024;

template <typename TX, typename TY>
__global__ void __launch_bounds__(kGnBlock)
    group_norm_kernel(const TX* __restrict__ x, TY* __restrict__ y, int hw, int c, int groups, float eps,
                      const float* __restrict__ gamma, const float* __restrict__ beta, const float* __restrict__ mod,
                      int64_t ms, NormMod mode, bool apply_silu) {
  __shared__ float scratch[32];
  const int n = blockIdx.x / groups, g = blockIdx.x % groups;
  const int cg = c / groups;
  const int64_t count = int64_t(hw) * cg;
  const int64_t base = int64_t(n) * hw * c + int64_t(g) * cg;
  const float* add = mode == NormMod::AddBias ? mod + int64_t(n) * ms + g * cg : nullptr;

  auto load = [&](int64_t e) -> float {
    int64_t p = e / cg;
    int k = int(e - p * cg);
    float v = to_f32(x[base + p * c + k]);
    return add ? v + add[k] : v;
  };

  // Shifted sums (shift = the group's first element) keep the variance accurate when |mean| >> std.
  const float shift = load(0);
  float s1 = 0.0f, s2 = 0.0f;
#pragma unroll 4
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    float d = load(e) - shift;
    s1 += d;
    s2 += d * d;
  }
  s1 = block_sum(s1, scratch);
  s2 = block_sum(s2, scratch);
  const float inv_count = 1.0f / float(count);
  const float m1 = s1 * inv_count;
  const float mean = shift + m1;
  const float var = fmaxf(s2 * inv_count - m1 * m1, 0.0f);
  const float rstd = 1.0f / sqrtf(var + eps);

  const float* scale = mode == NormMod::ScaleShift ? mod + int64_t(n) * ms + g * cg : nullptr;
#pragma unroll 4
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    int64_t p = e / cg;
    int k = int(e - p * cg);
    int ch = g * cg + k;
    float v = to_f32(x[base + p * c + k]);
    if (add) v += add[k];
    v = (v - mean) * rstd * gamma[ch] + beta[ch];
    if (scale) v = v * (1.0f + scale[k]) + scale[c + k];
    if (apply_silu) v = silu(v);
    y[base + p * c + k] = from_f32<TY>(v);
  }
}

}  // namespace

void group_norm_cuda(const GroupNormArgs& a, Stream s) {
  if (a.n <= 0 || a.hw <= 0) return;
  int64_t blocks = int64_t(a.n) * a.groups;
  dispatch_cuda_storage(a.x_dtype, "group_norm", [&](auto xt) {
    using TX = typename decltype(xt)::type;
    dispatch_cuda_storage(a.y_dtype, "group_norm", [&](auto yt) {
      using TY = typename decltype(yt)::type;
      group_norm_kernel<TX, TY><<<unsigned(blocks), kGnBlock, 0, as_cuda_stream(s)>>>(
          static_cast<const TX*>(a.x), static_cast<TY*>(a.y), a.hw, a.c, a.groups, a.eps, a.gamma, a.beta, a.mod,
          group_norm_mod_stride(a.mod_stride, a.mode, a.c), a.mode, a.silu);
    });
  });
  RD_CUDA_CHECK_LAUNCH("group_norm");
}

}  // namespace reddiff
