#include "kernels/group_norm.h"

#include <cmath>

#include "kernels/cpu_storage.h"

namespace reddiff {

void group_norm_cpu(const GroupNormArgs& a, Stream) {
  dispatch_storage(a.x_dtype, [&](auto xs) {
    using XS = decltype(xs);
    dispatch_storage(a.y_dtype, [&](auto ys) {
      using YS = decltype(ys);
      const auto* x = static_cast<const typename XS::T*>(a.x);
      auto* y = static_cast<typename YS::T*>(a.y);
      int cpg = a.c / a.groups;
#pragma omp parallel for collapse(2) schedule(static)
      for (int n = 0; n < a.n; ++n) {
        for (int g = 0; g < a.groups; ++g) {
          const float* add = a.mode == NormMod::AddBias ? a.mod + int64_t(n) * a.c : nullptr;
          auto in = [&](int64_t p, int c) {
            float v = XS::load(x, (int64_t(n) * a.hw + p) * a.c + c);
            return add ? v + add[c] : v;
          };
          double sum = 0;
          for (int64_t p = 0; p < a.hw; ++p)
            for (int c = g * cpg; c < (g + 1) * cpg; ++c) sum += in(p, c);
          double count = double(a.hw) * cpg, mean = sum / count, var = 0;
          for (int64_t p = 0; p < a.hw; ++p)
            for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
              double d = in(p, c) - mean;
              var += d * d;
            }
          float inv = float(1.0 / std::sqrt(var / count + a.eps)), m = float(mean);
          for (int64_t p = 0; p < a.hw; ++p) {
            for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
              float v = (in(p, c) - m) * inv * a.gamma[c] + a.beta[c];
              if (a.mode == NormMod::ScaleShift) {
                const float* mod = a.mod + int64_t(n) * 2 * a.c;
                v = v * (1.0f + mod[c]) + mod[a.c + c];
              }
              if (a.silu) v = silu(v);
              YS::store(y, (int64_t(n) * a.hw + p) * a.c + c, v);
            }
          }
        }
      }
    });
  });
}

}  // namespace reddiff
