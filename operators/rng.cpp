#include "operators/rng.h"

#include <cmath>

namespace reddiff {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

OpRng::OpRng(uint64_t seed, uint64_t image_id, RngStream stream) {
  uint64_t x = seed;
  uint64_t a = splitmix64(x);
  x = a ^ (image_id * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL);
  uint64_t b = splitmix64(x);
  x = b ^ (uint64_t(stream) * 0xa0761d6478bd642fULL);
  for (auto& s : s_) s = splitmix64(x);
}

uint64_t OpRng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double OpRng::uniform() { return double(next() >> 11) * 0x1.0p-53; }

uint64_t OpRng::below(uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = next();
  while (v >= limit);
  return v % n;
}

double OpRng::normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  double u, v, s;
  do {
    u = 2.0 * uniform() - 1.0;
    v = 2.0 * uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double f = std::sqrt(-2.0 * std::log(s) / s);
  spare_ = v * f;
  have_spare_ = true;
  return u * f;
}

double OpRng::poisson(double mean) {
  if (!(mean > 0.0)) return 0.0;
  if (mean < 10.0) {  // inversion by sequential search
    const double l = std::exp(-mean);
    double p = l, cdf = l, u = uniform();
    double k = 0.0;
    while (u > cdf && k < 1000.0) {
      k += 1.0;
      p *= mean / k;
      cdf += p;
    }
    return k;
  }
  // PTRS (W. Hörmann, "The transformed rejection method for generating Poisson random variables", 1993).
  const double slam = std::sqrt(mean), loglam = std::log(mean);
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    const double u = uniform() - 0.5, v = uniform();
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2.0 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <= -mean + k * loglam - std::lgamma(k + 1.0))
      return k;
  }
}

}  // namespace reddiff
