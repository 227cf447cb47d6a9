#include "kernels/network/group_norm_backward.h"

#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels/cpu_storage.h"

namespace reddiff {

// Per image, three passes over the NHWC data: the forward statistics (per-channel sums in double, as
// group_norm_cpu), the per-channel sums of g_xh and g_xh * xh (double), then gx.
void group_norm_backward_cpu(const GroupNormBackwardArgs& a, Stream) {
  dispatch_storage(a.x_dtype, [&](auto xs) {
    using XS = decltype(xs);
    dispatch_storage(a.gy_dtype, [&](auto gs) {
      using GS = decltype(gs);
      const auto* x = static_cast<const typename XS::T*>(a.x);
      const auto* gy = static_cast<const typename GS::T*>(a.gy);
      auto* gx = static_cast<typename XS::T*>(a.gx);
      int cpg = a.c / a.groups;
      int threads = omp_get_max_threads();
      std::vector<double> part(size_t(threads) * 2 * a.c);
      std::vector<float> mean(size_t(a.c)), rstd(size_t(a.c)), A(size_t(a.c)), B(size_t(a.c)), m1(size_t(a.c)),
          m2(size_t(a.c));
      double count = double(a.hw) * cpg;
      // Reduces part[] (two per-channel sums per thread) to per-group means, written per channel.
      auto group_means = [&](std::vector<float>& r1, std::vector<float>& r2, bool stats) {
        for (int g = 0; g < a.groups; ++g) {
          double s1 = 0, s2 = 0;
          for (int t = 0; t < threads; ++t)
            for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
              s1 += part[size_t(t) * 2 * a.c + c];
              s2 += part[size_t(t) * 2 * a.c + a.c + c];
            }
          double e1 = s1 / count, e2 = s2 / count;
          for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
            if (stats)
              r1[size_t(c)] = float(e1), r2[size_t(c)] = float(1.0 / std::sqrt(std::max(0.0, e2 - e1 * e1) + a.eps));
            else
              r1[size_t(c)] = float(e1), r2[size_t(c)] = float(e2);
          }
        }
      };
      for (int n = 0; n < a.n; ++n) {
        const auto* xn = x + int64_t(n) * a.hw * a.c;
        const auto* gyn = gy + int64_t(n) * a.hw * a.c;
        auto* gxn = gx + int64_t(n) * a.hw * a.c;
        const int64_t ms = group_norm_mod_stride(a.mod_stride, a.mode, a.c);
        const float* add = a.mode == NormMod::AddBias ? a.mod + int64_t(n) * ms : nullptr;
        auto v_at = [&](int64_t p, int c) { return XS::load(xn, p * a.c + c) + (add ? add[c] : 0.0f); };
        std::fill(part.begin(), part.end(), 0.0);
#pragma omp parallel
        {
          double* s = part.data() + size_t(omp_get_thread_num()) * 2 * a.c;
#pragma omp for schedule(static)
          for (int64_t p = 0; p < a.hw; ++p)
            for (int c = 0; c < a.c; ++c) {
              double v = v_at(p, c);
              s[c] += v;
              s[a.c + c] += v * v;
            }
        }
        group_means(mean, rstd, true);
        for (int c = 0; c < a.c; ++c)
          group_norm_affine(a.gamma, a.beta, a.mod, ms, a.mode, n, a.c, c, &A[size_t(c)], &B[size_t(c)]);
        std::fill(part.begin(), part.end(), 0.0);
#pragma omp parallel
        {
          double* s = part.data() + size_t(omp_get_thread_num()) * 2 * a.c;
#pragma omp for schedule(static)
          for (int64_t p = 0; p < a.hw; ++p)
            for (int c = 0; c < a.c; ++c) {
              float xh = (v_at(p, c) - mean[size_t(c)]) * rstd[size_t(c)];
              float g = group_norm_grad_xh(GS::load(gyn, p * a.c + c), xh, A[size_t(c)], B[size_t(c)], a.silu);
              s[c] += g;
              s[a.c + c] += double(g) * xh;
            }
        }
        group_means(m1, m2, false);
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < a.hw; ++p)
          for (int c = 0; c < a.c; ++c) {
            size_t k = size_t(c);
            float xh = (v_at(p, c) - mean[k]) * rstd[k];
            float g = group_norm_grad_xh(GS::load(gyn, p * a.c + c), xh, A[k], B[k], a.silu);
            float r = rstd[k] * (g - m1[k] - xh * m2[k]);
            int64_t i = p * a.c + c;
            XS::store(gxn, i, a.accumulate ? XS::load(gxn, i) + r : r);
          }
      }
    });
  });
}

}  // namespace reddiff
