#include "engine/metrics.h"

#include <cmath>
#include <limits>
#include <vector>

namespace reddiff {
namespace {

constexpr double kSigma = 1.5;
constexpr int kRadius = 5;  // int(3.5 * 1.5 + 0.5), scipy's truncate = 3.5 (skimage's default)

// scipy.ndimage 'reflect': the signal mirrored about its edges, edge samples repeated (period 2n).
int reflect(int i, int n) {
  const int period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

const std::vector<double>& gaussian_taps() {
  static const std::vector<double> taps = [] {
    std::vector<double> t(2 * kRadius + 1);
    double sum = 0.0;
    for (int k = -kRadius; k <= kRadius; ++k)
      sum += t[size_t(k + kRadius)] = std::exp(-0.5 * k * k / (kSigma * kSigma));
    for (auto& v : t) v /= sum;
    return t;
  }();
  return taps;
}

// Separable Gaussian filter of one h x w plane (rows first, then columns; the order only changes rounding).
void gaussian_filter(const std::vector<double>& in, std::vector<double>& out, int h, int w) {
  const auto& g = gaussian_taps();
  std::vector<double> tmp(in.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double s = 0.0;
      for (int k = -kRadius; k <= kRadius; ++k) s += g[size_t(k + kRadius)] * in[size_t(y) * w + reflect(x + k, w)];
      tmp[size_t(y) * w + x] = s;
    }
  out.resize(in.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double s = 0.0;
      for (int k = -kRadius; k <= kRadius; ++k) s += g[size_t(k + kRadius)] * tmp[size_t(reflect(y + k, h)) * w + x];
      out[size_t(y) * w + x] = s;
    }
}

}  // namespace

double psnr(const float* x, const float* ref, size_t n, double data_range) {
  double se = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - double(ref[i]);
    se += d * d;
  }
  const double mse = n ? se / double(n) : 0.0;
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(data_range * data_range / mse);
}

double ssim(const float* x, const float* ref, int c, int h, int w, double data_range) {
  if (h < 2 * kRadius + 1 || w < 2 * kRadius + 1 || c < 1) return std::numeric_limits<double>::quiet_NaN();
  const double c1 = (0.01 * data_range) * (0.01 * data_range), c2 = (0.03 * data_range) * (0.03 * data_range);
  const size_t hw = size_t(h) * w;
  std::vector<double> a(hw), b(hw), aa(hw), bb(hw), ab(hw), ua, ub, uaa, ubb, uab;
  double total = 0.0;
  for (int ch = 0; ch < c; ++ch) {
    const float* px = x + size_t(ch) * hw;
    const float* pr = ref + size_t(ch) * hw;
    for (size_t i = 0; i < hw; ++i) {
      a[i] = pr[i], b[i] = px[i];
      aa[i] = a[i] * a[i], bb[i] = b[i] * b[i], ab[i] = a[i] * b[i];
    }
    gaussian_filter(a, ua, h, w);
    gaussian_filter(b, ub, h, w);
    gaussian_filter(aa, uaa, h, w);
    gaussian_filter(bb, ubb, h, w);
    gaussian_filter(ab, uab, h, w);
    double sum = 0.0;
    for (int y = kRadius; y < h - kRadius; ++y)
      for (int xx = kRadius; xx < w - kRadius; ++xx) {
        const size_t i = size_t(y) * w + xx;
        const double mx = ua[i], my = ub[i];
        const double vx = uaa[i] - mx * mx, vy = ubb[i] - my * my, vxy = uab[i] - mx * my;
        sum += ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      }
    total += sum / (double(h - 2 * kRadius) * double(w - 2 * kRadius));
  }
  return total / c;
}

}  // namespace reddiff
