// CUDA twin of kernels/network/group_norm_backward.cpp: one block per (image, group), three passes over the
// group (statistics as group_norm_cuda, the two gradient means, then gx), f32 math.
#include "base/cuda_check.h"
#include "kernels/network/group_norm_backward.h"

namespace reddiff {

namespace {

constexpr int kGnBlock = 1024;

template <typename TX, typename TG>
__global__ void __launch_bounds__(kGnBlock)
    group_norm_backward_kernel(const TX* __restrict__ x, const TG* __restrict__ gy, TX* gx, int hw, int c, int groups,
                               float eps, const float* __restrict__ gamma, const float* __restrict__ beta,
                               const float* __restrict__ mod, int64_t ms, NormMod mode, bool apply_silu, bool acc) {
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

  const float shift = load(0);
  float s1 = 0.0f, s2 = 0.0f;
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
  const float rstd = 1.0f / sqrtf(fmaxf(s2 * inv_count - m1 * m1, 0.0f) + eps);

  auto grad_xh = [&](int64_t e, float* xh_out) -> float {
    int64_t p = e / cg;
    int k = int(e - p * cg);
    float xh = (load(e) - mean) * rstd;
    float A, B;
    group_norm_affine(gamma, beta, mod, ms, mode, n, c, g * cg + k, &A, &B);
    *xh_out = xh;
    return group_norm_grad_xh(to_f32(gy[base + p * c + k]), xh, A, B, apply_silu);
  };

  float t1 = 0.0f, t2 = 0.0f;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    float xh;
    float gv = grad_xh(e, &xh);
    t1 += gv;
    t2 += gv * xh;
  }
  t1 = block_sum(t1, scratch) * inv_count;
  t2 = block_sum(t2, scratch) * inv_count;

  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    float xh;
    float gv = grad_xh(e, &xh);
    float r = rstd * (gv - t1 - xh * t2);
    int64_t p = e / cg;
    int64_t i = base + p * c + (e - p * cg);
    gx[i] = from_f32<TX>(acc ? to_f32(gx[i]) + r : r);
  }
}

}  // namespace

void group_norm_backward_cuda(const GroupNormBackwardArgs& a, Stream s) {
  if (a.n <= 0 || a.hw <= 0) return;
  int64_t blocks = int64_t(a.n) * a.groups;
  dispatch_cuda_storage(a.x_dtype, "group_norm_backward", [&](auto xt) {
    using TX = typename decltype(xt)::type;
    dispatch_cuda_storage(a.gy_dtype, "group_norm_backward", [&](auto gt) {
      using TG = typename decltype(gt)::type;
      group_norm_backward_kernel<TX, TG><<<unsigned(blocks), kGnBlock, 0, as_cuda_stream(s)>>>(
          static_cast<const TX*>(a.x), static_cast<const TG*>(a.gy), static_cast<TX*>(a.gx), a.hw, a.c, a.groups, a.eps,
          a.gamma, a.beta, a.mod, group_norm_mod_stride(a.mod_stride, a.mode, a.c), a.mode, a.silu, a.accumulate);
    });
  });
  RD_CUDA_CHECK_LAUNCH("group_norm_backward");
}

}  // namespace reddiff
