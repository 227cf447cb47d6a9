#include "kernels/network/resample.h"

#include "kernels/cpu_storage.h"

namespace reddiff {

void avg_pool2_cpu(const ResampleArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* x = static_cast<const typename S::T*>(a.x);
    auto* y = static_cast<typename S::T*>(a.y);
    int ho = a.h / 2, wo = a.w / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a.n; ++n)
      for (int i = 0; i < ho; ++i)
        for (int j = 0; j < wo; ++j)
          for (int c = 0; c < a.c; ++c) {
            auto at = [&](int ii, int jj) { return S::load(x, ((int64_t(n) * a.h + ii) * a.w + jj) * a.c + c); };
            float v =
                (at(2 * i, 2 * j) + at(2 * i, 2 * j + 1) + at(2 * i + 1, 2 * j) + at(2 * i + 1, 2 * j + 1)) * 0.25f;
            S::store(y, ((int64_t(n) * ho + i) * wo + j) * a.c + c, v);
          }
  });
}

void upsample_nearest2_cpu(const ResampleArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* x = static_cast<const typename S::T*>(a.x);
    auto* y = static_cast<typename S::T*>(a.y);
    int ho = a.h * 2, wo = a.w * 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a.n; ++n)
      for (int i = 0; i < ho; ++i)
        for (int j = 0; j < wo; ++j)
          for (int c = 0; c < a.c; ++c)
            y[((int64_t(n) * ho + i) * wo + j) * a.c + c] = x[((int64_t(n) * a.h + i / 2) * a.w + j / 2) * a.c + c];
  });
}

void concat_channels_cpu(const ConcatArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* pa = static_cast<const typename S::T*>(a.a);
    const auto* pb = static_cast<const typename S::T*>(a.b);
    auto* y = static_cast<typename S::T*>(a.y);
    int64_t rows = int64_t(a.n) * a.hw, cy = a.ca + a.cb;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      for (int c = 0; c < a.ca; ++c) y[r * cy + c] = pa[r * a.ca + c];
      for (int c = 0; c < a.cb; ++c) y[r * cy + a.ca + c] = pb[r * a.cb + c];
    }
  });
}

void input_pad_cpu(const InputPadArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    auto* y = static_cast<typename S::T*>(a.y);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a.n; ++n)
      for (int i = 0; i < a.hp; ++i)
        for (int j = 0; j < a.wp; ++j)
          for (int c = 0; c < a.c; ++c) {
            int si = reflect_index(i, a.h), sj = reflect_index(j, a.w);
            S::store(y, ((int64_t(n) * a.hp + i) * a.wp + j) * a.c + c,
                     a.x[((int64_t(n) * a.c + c) * a.h + si) * a.w + sj]);
          }
  });
}

void output_crop_cpu(const OutputCropArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* x = static_cast<const typename S::T*>(a.x);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a.n; ++n)
      for (int c = 0; c < a.c; ++c)
        for (int i = 0; i < a.h; ++i)
          for (int j = 0; j < a.w; ++j)
            a.y[((int64_t(n) * a.c + c) * a.h + i) * a.w + j] =
                S::load(x, ((int64_t(n) * a.hp + i) * a.wp + j) * a.c + c);
  });
}

}  // namespace reddiff
