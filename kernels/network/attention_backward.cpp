#include "kernels/network/attention_backward.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu_gemm.h"
#include "kernels/cpu_storage.h"

namespace reddiff {

// Per thread: q, k, v, dO, dQ, dK, dV of one head as [t, d] f32, plus P and dP [t, t].
static size_t per_thread_floats(int t, int d) { return size_t(7) * t * d + size_t(2) * t * t; }

size_t attention_backward_workspace_bytes_cpu(int n, int t, int c, int heads, DType) {
  if (t <= 0 || heads <= 0) return 0;
  return per_thread_floats(t, c / heads) * sizeof(float) * size_t(omp_get_max_threads());
}

// One (image, head) pair per thread, single-threaded GEMMs inside (as attention_cpu).
void attention_backward_cpu(const AttentionBackwardArgs& a, Stream) {
  int d = a.c / a.heads, t = a.t;
  float scale = 1.0f / std::sqrt(float(d));
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* qkv = static_cast<const typename S::T*>(a.qkv);
    const auto* gout = static_cast<const typename S::T*>(a.gout);
    auto* gqkv = static_cast<typename S::T*>(a.gqkv);
#pragma omp parallel for schedule(dynamic)
    for (int nh = 0; nh < a.n * a.heads; ++nh) {
      int n = nh / a.heads, h = nh % a.heads;
      size_t td = size_t(t) * d;
      float* q = static_cast<float*>(a.workspace) + per_thread_floats(t, d) * size_t(omp_get_thread_num());
      float *k = q + td, *v = k + td, *go = v + td, *dq = go + td, *dk = dq + td, *dv = dk + td;
      float *p = dv + td, *dp = p + size_t(t) * t;
      int qc = attention_q_channel(h, d, a.c, a.legacy), kc = attention_k_channel(h, d, a.c, a.legacy),
          vc = attention_v_channel(h, d, a.c, a.legacy);
      for (int i = 0; i < t; ++i) {
        int64_t row = (int64_t(n) * t + i) * 3 * a.c, orow = (int64_t(n) * t + i) * a.c + int64_t(h) * d;
        for (int j = 0; j < d; ++j) {
          q[size_t(i) * d + j] = S::load(qkv, row + qc + j);
          k[size_t(i) * d + j] = S::load(qkv, row + kc + j);
          v[size_t(i) * d + j] = S::load(qkv, row + vc + j);
          go[size_t(i) * d + j] = S::load(gout, orow + j);
        }
      }
      sgemm_cpu(false, true, t, t, d, scale, q, d, k, d, 0.0f, p, t);
      for (int i = 0; i < t; ++i) {
        float* r = p + size_t(i) * t;
        float mx = *std::max_element(r, r + t);
        double sum = 0;
        for (int j = 0; j < t; ++j) sum += (r[j] = std::exp(r[j] - mx));
        float inv = float(1.0 / sum);
        for (int j = 0; j < t; ++j) r[j] *= inv;
      }
      // dV = P^T dO; dP = dO V^T
      sgemm_cpu(true, false, t, d, t, 1.0f, p, t, go, d, 0.0f, dv, d);
      sgemm_cpu(false, true, t, t, d, 1.0f, go, d, v, d, 0.0f, dp, t);
      for (int i = 0; i < t; ++i) {
        const float* pr = p + size_t(i) * t;
        float* r = dp + size_t(i) * t;
        double dot = 0;
        for (int j = 0; j < t; ++j) dot += double(r[j]) * pr[j];
        for (int j = 0; j < t; ++j) r[j] = softmax_backward_element(pr[j], r[j], float(dot), scale);
      }
      // dQ = dS K; dK = dS^T Q
      sgemm_cpu(false, false, t, d, t, 1.0f, dp, t, k, d, 0.0f, dq, d);
      sgemm_cpu(true, false, t, d, t, 1.0f, dp, t, q, d, 0.0f, dk, d);
      for (int i = 0; i < t; ++i) {
        int64_t row = (int64_t(n) * t + i) * 3 * a.c;
        for (int j = 0; j < d; ++j) {
          S::store(gqkv, row + qc + j, dq[size_t(i) * d + j]);
          S::store(gqkv, row + kc + j, dk[size_t(i) * d + j]);
          S::store(gqkv, row + vc + j, dv[size_t(i) * d + j]);
        }
      }
    }
  });
}

}  // namespace reddiff
