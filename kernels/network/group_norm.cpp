#include "kernels/network/group_norm.h"

#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels/cpu_storage.h"

namespace reddiff {

// Two contiguous passes per image over the NHWC data: per-channel sums and sums of squares (in double,
// so the one-pass variance is exact to f32 precision), then y = silu((x - M_c) * A_c + B_c) with the
// group mean in M_c (x + e - M_c for AddBias, in f32 as the CUDA twin) and GroupNorm's affine and the modulation folded into
// A_c, B_c. Subtracting the mean before scaling keeps full precision when 1/std is large.
void group_norm_cpu(const GroupNormArgs& a, Stream) {
  dispatch_storage(a.x_dtype, [&](auto xs) {
    using XS = decltype(xs);
    dispatch_storage(a.y_dtype, [&](auto ys) {
      using YS = decltype(ys);
      const auto* x = static_cast<const typename XS::T*>(a.x);
      auto* y = static_cast<typename YS::T*>(a.y);
      int cpg = a.c / a.groups;
      int threads = omp_get_max_threads();
      std::vector<double> part(size_t(threads) * 2 * a.c);
      std::vector<float> M(size_t(a.c)), A(size_t(a.c)), B(size_t(a.c));
      for (int n = 0; n < a.n; ++n) {
        const auto* xn = x + int64_t(n) * a.hw * a.c;
        auto* yn = y + int64_t(n) * a.hw * a.c;
        const float* add = a.mode == NormMod::AddBias ? a.mod + int64_t(n) * a.c : nullptr;
        std::fill(part.begin(), part.end(), 0.0);
#pragma omp parallel
        {
          double* s = part.data() + size_t(omp_get_thread_num()) * 2 * a.c;
          double* s2 = s + a.c;
#pragma omp for schedule(static)
          for (int64_t p = 0; p < a.hw; ++p)
            for (int c = 0; c < a.c; ++c) {
              double v = XS::load(xn, p * a.c + c) + (add ? add[c] : 0.0f);
              s[c] += v;
              s2[c] += v * v;
            }
        }
        double count = double(a.hw) * cpg;
        for (int g = 0; g < a.groups; ++g) {
          double sum = 0, sq = 0;
          for (int t = 0; t < threads; ++t)
            for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
              sum += part[size_t(t) * 2 * a.c + c];
              sq += part[size_t(t) * 2 * a.c + a.c + c];
            }
          double mean = sum / count, var = std::max(0.0, sq / count - mean * mean);
          double inv = 1.0 / std::sqrt(var + a.eps);
          for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
            double ac = inv * a.gamma[c], bc = a.beta[c];
            M[size_t(c)] = float(mean);
            if (a.mode == NormMod::ScaleShift) {
              const float* mod = a.mod + int64_t(n) * 2 * a.c;
              ac *= 1.0 + mod[c];
              bc = bc * (1.0 + mod[c]) + mod[a.c + c];
            }
            A[size_t(c)] = float(ac), B[size_t(c)] = float(bc);
          }
        }
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < a.hw; ++p)
          for (int c = 0; c < a.c; ++c) {
            float v = (XS::load(xn, p * a.c + c) + (add ? add[c] : 0.0f) - M[size_t(c)]) * A[size_t(c)] + B[size_t(c)];
            YS::store(yn, p * a.c + c, a.silu ? silu(v) : v);
          }
      }
    });
  });
}

}  // namespace reddiff
