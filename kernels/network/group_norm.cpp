#include "kernels/network/group_norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu_storage.h"

namespace reddiff {

// Two contiguous passes per image over the NHWC data: per-channel sums and sums of squares (in double,
// so the one-pass variance is exact to f32 precision), then y = silu((x - M_c) * A_c + B_c) with the
// group mean in M_c (x + e - M_c for AddBias, in f32 as the CUDA twin) and GroupNorm's affine and the
// modulation folded into A_c, B_c. Subtracting the mean before scaling keeps full precision when 1/std is
// large.
//
// Speed: both passes run over rows of contiguous channels, which the compiler vectorises; the build
// targets plain x86-64, so the row loops are compiled again for AVX2 and AVX-512 and the CPU picks one at
// load time (GCC's target_clones). SiLU's exponential is exp_poly below instead of libm's scalar expf, so
// the whole row vectorises.

namespace {

// e^x to about 2.5e-7 relative error (1-2 ulp; libm's expf: 0.5 ulp): 2^n * p(r) with r = x - n ln 2 in
// [-ln2/2, ln2/2] (Cody-Waite), p the degree-6 Taylor polynomial. x is clamped to [-87, 88] first, so
// 2^n is a normal float and no lane ever makes a subnormal (slow) or an infinity; silu only needs e^x
// there to float precision.
inline float exp_poly(float x) {
  x = x < -87.0f ? -87.0f : x;  // selects by value (not std::min's reference), so it vectorises
  x = x > 88.0f ? 88.0f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (int32_t(n) + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
}

inline float silu_fast(float v) { return v / (1.0f + exp_poly(-v)); }

inline float load_f32(const float* p, int64_t i) { return p[i]; }
inline float load_bf16(const uint16_t* p, int64_t i) { return __builtin_bit_cast(float, uint32_t(p[i]) << 16); }
inline void store_f32(float* p, int64_t i, float v) { p[i] = v; }
inline void store_bf16(uint16_t* p, int64_t i, float v) {
  uint32_t x = __builtin_bit_cast(uint32_t, v);
  x += 0x7fffu + ((x >> 16) & 1u);  // round to nearest even (activations are finite)
  p[i] = uint16_t(x >> 16);
}

// Rows [0, rows) of `c` channels: s[c] += x + add, s2[c] += (x + add)^2 (add: zeros when there is none).
template <typename T, float (*Load)(const T*, int64_t)>
inline void stats_rows(const T* x, int64_t rows, int c, const float* add, double* s, double* s2) {
  for (int64_t p = 0; p < rows; ++p) {
    const T* xp = x + p * c;
#pragma omp simd
    for (int k = 0; k < c; ++k) {
      const double v = double(Load(xp, k) + add[k]);
      s[k] += v;
      s2[k] += v * v;
    }
  }
}

// Rows [0, rows): y = f((x + add - M) * A + B), f = silu or identity. `add` is never null (zeros when
// there is none): a conditional load in the loop becomes a masked load from address 0, which AMD CPUs
// serve through a microcode assist costing hundreds of cycles per row.
template <typename T, typename U, float (*Load)(const T*, int64_t), void (*Store)(U*, int64_t, float)>
inline void apply_rows(const T* x, U* y, int64_t rows, int c, const float* add, const float* M, const float* A,
                       const float* B, bool silu_on) {
  for (int64_t p = 0; p < rows; ++p) {
    const T* xp = x + p * c;
    U* yp = y + p * c;
    if (silu_on) {
#pragma omp simd
      for (int k = 0; k < c; ++k) Store(yp, k, silu_fast((Load(xp, k) + add[k] - M[k]) * A[k] + B[k]));
    } else {
#pragma omp simd
      for (int k = 0; k < c; ++k) Store(yp, k, (Load(xp, k) + add[k] - M[k]) * A[k] + B[k]);
    }
  }
}

#define RD_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

RD_ISA_CLONES void stats_f32(const float* x, int64_t rows, int c, const float* add, double* s, double* s2) {
  stats_rows<float, load_f32>(x, rows, c, add, s, s2);
}
RD_ISA_CLONES void stats_bf16(const uint16_t* x, int64_t rows, int c, const float* add, double* s, double* s2) {
  stats_rows<uint16_t, load_bf16>(x, rows, c, add, s, s2);
}
RD_ISA_CLONES void apply_f32_f32(const float* x, float* y, int64_t rows, int c, const float* add, const float* M,
                                 const float* A, const float* B, bool silu_on) {
  apply_rows<float, float, load_f32, store_f32>(x, y, rows, c, add, M, A, B, silu_on);
}
RD_ISA_CLONES void apply_bf16_bf16(const uint16_t* x, uint16_t* y, int64_t rows, int c, const float* add,
                                   const float* M, const float* A, const float* B, bool silu_on) {
  apply_rows<uint16_t, uint16_t, load_bf16, store_bf16>(x, y, rows, c, add, M, A, B, silu_on);
}
RD_ISA_CLONES void apply_bf16_f32(const uint16_t* x, float* y, int64_t rows, int c, const float* add, const float* M,
                                  const float* A, const float* B, bool silu_on) {
  apply_rows<uint16_t, float, load_bf16, store_f32>(x, y, rows, c, add, M, A, B, silu_on);
}

// Image n's per-channel M (group mean), A, B from the threads' partial sums (part: per thread, C sums then
// C sums of squares), GroupNorm's affine and the ScaleShift modulation folded in; both CPU paths use it.
void fold_stats(const GroupNormArgs& a, int n, const std::vector<double>& part, int threads, float* M, float* A,
                float* B) {
  const int cpg = a.c / a.groups;
  const double count = double(a.hw) * cpg;
  for (int g = 0; g < a.groups; ++g) {
    double sum = 0, sq = 0;
    for (int t = 0; t < threads; ++t)
      for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
        sum += part[size_t(t) * 2 * a.c + c];
        sq += part[size_t(t) * 2 * a.c + a.c + c];
      }
    const double mean = sum / count, var = std::max(0.0, sq / count - mean * mean);
    const double inv = 1.0 / std::sqrt(var + a.eps);
    for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
      double ac = inv * a.gamma[c], bc = a.beta[c];
      M[c] = float(mean);
      if (a.mode == NormMod::ScaleShift) {
        const float* mod = a.mod + int64_t(n) * group_norm_mod_stride(a.mod_stride, a.mode, a.c);
        ac *= 1.0 + mod[c];
        bc = bc * (1.0 + mod[c]) + mod[a.c + c];
      }
      A[c] = float(ac), B[c] = float(bc);
    }
  }
}

// The per-channel statistics of one image and the folded M, A, B, for any storage (the generic path reads
// through the storage type; f32 and bf16 take the vectorised rows above).
void group_norm_cpu_fast(const GroupNormArgs& a) {
  const int threads = omp_get_max_threads();
  std::vector<double> part(size_t(threads) * 2 * a.c);
  std::vector<float> M(size_t(a.c)), A(size_t(a.c)), B(size_t(a.c)), zeros(size_t(a.c), 0.0f);
  const size_t xs = dtype_size(a.x_dtype), ys = dtype_size(a.y_dtype);
  for (int n = 0; n < a.n; ++n) {
    const char* xn = static_cast<const char*>(a.x) + size_t(n) * size_t(a.hw) * size_t(a.c) * xs;
    char* yn = static_cast<char*>(a.y) + size_t(n) * size_t(a.hw) * size_t(a.c) * ys;
    const float* add = a.mode == NormMod::AddBias
                           ? a.mod + int64_t(n) * group_norm_mod_stride(a.mod_stride, a.mode, a.c)
                           : zeros.data();
    std::fill(part.begin(), part.end(), 0.0);
#pragma omp parallel
    {
      // Static, contiguous row ranges per thread: the sums do not depend on the batch.
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t r0 = int64_t(a.hw) * t / nt, r1 = int64_t(a.hw) * (t + 1) / nt;
      double* s = part.data() + size_t(t) * 2 * a.c;
      if (r1 > r0) {
        if (a.x_dtype == DType::F32)
          stats_f32(reinterpret_cast<const float*>(xn) + r0 * a.c, r1 - r0, a.c, add, s, s + a.c);
        else
          stats_bf16(reinterpret_cast<const uint16_t*>(xn) + r0 * a.c, r1 - r0, a.c, add, s, s + a.c);
      }
    }
    fold_stats(a, n, part, threads, M.data(), A.data(), B.data());
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t r0 = int64_t(a.hw) * t / nt, r1 = int64_t(a.hw) * (t + 1) / nt;
      if (r1 > r0) {
        const int64_t off = r0 * a.c;
        if (a.x_dtype == DType::F32)
          apply_f32_f32(reinterpret_cast<const float*>(xn) + off, reinterpret_cast<float*>(yn) + off, r1 - r0, a.c, add,
                        M.data(), A.data(), B.data(), a.silu);
        else if (a.y_dtype == DType::BF16)
          apply_bf16_bf16(reinterpret_cast<const uint16_t*>(xn) + off, reinterpret_cast<uint16_t*>(yn) + off, r1 - r0,
                          a.c, add, M.data(), A.data(), B.data(), a.silu);
        else
          apply_bf16_f32(reinterpret_cast<const uint16_t*>(xn) + off, reinterpret_cast<float*>(yn) + off, r1 - r0, a.c,
                         add, M.data(), A.data(), B.data(), a.silu);
      }
    }
  }
}

}  // namespace

void group_norm_cpu(const GroupNormArgs& a, Stream) {
  const bool fast = (a.x_dtype == DType::F32 && a.y_dtype == DType::F32) ||
                    (a.x_dtype == DType::BF16 && (a.y_dtype == DType::BF16 || a.y_dtype == DType::F32));
  if (fast) return group_norm_cpu_fast(a);
  // Any other storage (f16: the CUDA twins' reference in tests): the same passes, element by element.
  dispatch_storage(a.x_dtype, [&](auto xs) {
    using XS = decltype(xs);
    dispatch_storage(a.y_dtype, [&](auto ys) {
      using YS = decltype(ys);
      const auto* x = static_cast<const typename XS::T*>(a.x);
      auto* y = static_cast<typename YS::T*>(a.y);
      int threads = omp_get_max_threads();
      std::vector<double> part(size_t(threads) * 2 * a.c);
      std::vector<float> M(size_t(a.c)), A(size_t(a.c)), B(size_t(a.c));
      for (int n = 0; n < a.n; ++n) {
        const auto* xn = x + int64_t(n) * a.hw * a.c;
        auto* yn = y + int64_t(n) * a.hw * a.c;
        const float* add = a.mode == NormMod::AddBias
                               ? a.mod + int64_t(n) * group_norm_mod_stride(a.mod_stride, a.mode, a.c)
                               : nullptr;
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
        fold_stats(a, n, part, threads, M.data(), A.data(), B.data());
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
