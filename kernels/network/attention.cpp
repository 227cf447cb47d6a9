#include "kernels/network/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu_gemm.h"
#include "kernels/cpu_storage.h"

namespace reddiff {

// Per thread: q, k, v, out of one head as contiguous [t, d] f32, plus its [t, t] scores.
static size_t per_thread_floats(int t, int d) { return size_t(4) * t * d + size_t(t) * t; }

size_t attention_workspace_bytes_cpu(int n, int t, int c, int heads, DType) {
  if (t <= 0 || heads <= 0) return 0;
  return per_thread_floats(t, c / heads) * sizeof(float) * size_t(omp_get_max_threads());
}

// One (image, head) pair per thread; the GEMMs inside are single-threaded (the CPU backend runs
// its GEMMs on the calling thread and parallelises over independent work with OpenMP).
void attention_cpu(const AttentionArgs& a, Stream) {
  int d = a.c / a.heads;
  float scale = 1.0f / std::sqrt(float(d));
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* qkv = static_cast<const typename S::T*>(a.qkv);
    auto* out = static_cast<typename S::T*>(a.out);
#pragma omp parallel for schedule(dynamic)
    for (int nh = 0; nh < a.n * a.heads; ++nh) {
      int n = nh / a.heads, h = nh % a.heads;
      float* q = static_cast<float*>(a.workspace) + per_thread_floats(a.t, d) * size_t(omp_get_thread_num());
      float *k = q + size_t(a.t) * d, *v = k + size_t(a.t) * d, *o = v + size_t(a.t) * d, *s = o + size_t(a.t) * d;
      int qc = attention_q_channel(h, d, a.c, a.legacy), kc = attention_k_channel(h, d, a.c, a.legacy),
          vc = attention_v_channel(h, d, a.c, a.legacy);
      for (int i = 0; i < a.t; ++i) {
        int64_t row = (int64_t(n) * a.t + i) * 3 * a.c;
        for (int j = 0; j < d; ++j) {
          q[size_t(i) * d + j] = S::load(qkv, row + qc + j);
          k[size_t(i) * d + j] = S::load(qkv, row + kc + j);
          v[size_t(i) * d + j] = S::load(qkv, row + vc + j);
        }
      }
      // S = scale * Q K^T  [t, t]; softmax over keys; O = S V
      sgemm_cpu(false, true, a.t, a.t, d, scale, q, d, k, d, 0.0f, s, a.t);
      for (int i = 0; i < a.t; ++i) {
        float* r = s + size_t(i) * a.t;
        float mx = *std::max_element(r, r + a.t);
        double sum = 0;
        for (int j = 0; j < a.t; ++j) sum += (r[j] = std::exp(r[j] - mx));
        float inv = float(1.0 / sum);
        for (int j = 0; j < a.t; ++j) r[j] *= inv;
      }
      sgemm_cpu(false, false, a.t, d, a.t, 1.0f, s, a.t, v, d, 0.0f, o, d);
      for (int i = 0; i < a.t; ++i)
        for (int j = 0; j < d; ++j) S::store(out, (int64_t(n) * a.t + i) * a.c + h * d + j, o[size_t(i) * d + j]);
    }
  });
}

}  // namespace reddiff
