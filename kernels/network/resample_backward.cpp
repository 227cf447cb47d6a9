#include "kernels/network/resample_backward.h"

#include "kernels/cpu_storage.h"

namespace reddiff {

namespace {

template <typename S>
void put(typename S::T* y, int64_t i, float v, bool acc) {
  S::store(y, i, acc ? S::load(y, i) + v : v);
}

}  // namespace

void avg_pool2_backward_cpu(const ResampleBackwardArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* gy = static_cast<const typename S::T*>(a.gy);
    auto* gx = static_cast<typename S::T*>(a.gx);
    int ho = a.h / 2, wo = a.w / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a.n; ++n)
      for (int i = 0; i < a.h; ++i)
        for (int j = 0; j < a.w; ++j)
          for (int c = 0; c < a.c; ++c)
            put<S>(gx, ((int64_t(n) * a.h + i) * a.w + j) * a.c + c,
                   0.25f * S::load(gy, ((int64_t(n) * ho + i / 2) * wo + j / 2) * a.c + c), a.accumulate);
  });
}

void upsample_nearest2_backward_cpu(const ResampleBackwardArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* gy = static_cast<const typename S::T*>(a.gy);
    auto* gx = static_cast<typename S::T*>(a.gx);
    int wo = a.w * 2, ho = a.h * 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a.n; ++n)
      for (int i = 0; i < a.h; ++i)
        for (int j = 0; j < a.w; ++j)
          for (int c = 0; c < a.c; ++c) {
            auto at = [&](int ii, int jj) { return S::load(gy, ((int64_t(n) * ho + ii) * wo + jj) * a.c + c); };
            float v = at(2 * i, 2 * j) + at(2 * i, 2 * j + 1) + at(2 * i + 1, 2 * j) + at(2 * i + 1, 2 * j + 1);
            put<S>(gx, ((int64_t(n) * a.h + i) * a.w + j) * a.c + c, v, a.accumulate);
          }
  });
}

void channel_slice_cpu(const ChannelSliceArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* x = static_cast<const typename S::T*>(a.x);
    auto* y = static_cast<typename S::T*>(a.y);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < a.rows; ++r)
      for (int c = 0; c < a.cy; ++c) put<S>(y, r * a.cy + c, S::load(x, r * a.cx + a.offset + c), a.accumulate);
  });
}

void grad_add_cpu(const GradAddArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* x = static_cast<const typename S::T*>(a.x);
    auto* y = static_cast<typename S::T*>(a.y);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < a.n; ++i) S::store(y, i, S::load(y, i) + S::load(x, i));
  });
}

void input_pad_backward_cpu(const InputPadBackwardArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    const auto* gy = static_cast<const typename S::T*>(a.gy);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a.n; ++n)
      for (int c = 0; c < a.c; ++c)
        for (int i = 0; i < a.h; ++i)
          for (int j = 0; j < a.w; ++j) {
            auto g = [&](int ii, int jj) { return S::load(gy, ((int64_t(n) * a.hp + ii) * a.wp + jj) * a.c + c); };
            float v = input_pad_adjoint(i, j, a.h, a.w, a.hp, a.wp, g);
            float& o = a.gx[((int64_t(n) * a.c + c) * a.h + i) * a.w + j];
            o = a.accumulate ? o + v : v;
          }
  });
}

void output_crop_backward_cpu(const OutputCropBackwardArgs& a, Stream) {
  dispatch_storage(a.dtype, [&](auto st) {
    using S = decltype(st);
    auto* gx = static_cast<typename S::T*>(a.gx);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a.n; ++n)
      for (int i = 0; i < a.hp; ++i)
        for (int j = 0; j < a.wp; ++j)
          for (int c = 0; c < a.c; ++c)
            put<S>(gx, ((int64_t(n) * a.hp + i) * a.wp + j) * a.c + c,
                   i < a.h && j < a.w ? a.gy[((int64_t(n) * a.c + c) * a.h + i) * a.w + j] : 0.0f, a.accumulate);
  });
}

}  // namespace reddiff
