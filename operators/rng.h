// The operators' random numbers: xoshiro256** seeded through SplitMix64 from (seed, image id, stream tag),
// so that every image's mask, kernel and noise are reproducible on every platform and independent of the
// batch. Gaussian draws use the polar Box-Muller method in double precision; Poisson draws use inversion
// for small means and Hörmann's PTRS transformed rejection for large ones.
#pragma once
#include <cstdint>

namespace reddiff {

enum class RngStream : uint64_t { Mask = 1, Kernel = 2, Noise = 3 };

class OpRng {
 public:
  OpRng(uint64_t seed, uint64_t image_id, RngStream stream);
  uint64_t next();
  double uniform();             // [0, 1), 53 bits
  uint64_t below(uint64_t n);   // uniform in [0, n), unbiased; n > 0
  double normal();              // N(0, 1)
  double poisson(double mean);  // mean >= 0

 private:
  uint64_t s_[4];
  bool have_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace reddiff
