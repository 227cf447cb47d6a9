// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011) shared by the CUDA kernels and their
// CPU twins, so both draw bit-identical noise. A normal is keyed by (seed, image id, step, stream,
// element): an image's noise never depends on batch composition, sharding or device.
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"

namespace reddiff {

struct Philox4 {
  uint32_t v[4];
};

RD_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

RD_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo32(0xD2511F53u, ctr.v[0], &hi0);
    uint32_t lo1 = mulhilo32(0xCD9E8D57u, ctr.v[2], &hi1);
    Philox4 next;
    next.v[0] = hi1 ^ ctr.v[1] ^ k0;
    next.v[1] = lo1;
    next.v[2] = hi0 ^ ctr.v[3] ^ k1;
    next.v[3] = lo0;
    ctr = next;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return ctr;
}

// Uniform in (0, 1]: never 0, so log() below is finite.
RD_HD float uint_to_unit(uint32_t x) { return (float(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// Named noise streams within one (image, step).
enum NoiseStream : uint32_t { kNoiseEps = 0, kNoiseX0 = 1, kNoiseInit = 2, kNoiseSampler = 3, kNoiseMeasurement = 4 };

// The standard normal for element e of image `image` at `step` in `stream`. Elements come in groups of
// four from one Philox block (two Box-Muller pairs).
RD_HD float philox_normal(uint64_t seed, uint64_t image, uint32_t step, uint32_t stream, uint64_t e) {
  Philox4 c;
  c.v[0] = uint32_t(e >> 2);
  c.v[1] = uint32_t(e >> 34) ^ (stream << 24);
  c.v[2] = step;
  c.v[3] = uint32_t(image) ^ uint32_t(image >> 32) * 0x9E3779B9u;
  Philox4 r = philox4x32_10(c, uint32_t(seed), uint32_t(seed >> 32));
  int lane = int(e & 3);
  float u1 = uint_to_unit(r.v[lane & 2]), u2 = uint_to_unit(r.v[(lane & 2) + 1]);
  float rad = sqrtf(-2.0f * logf(u1));
  float ang = 6.283185307179586f * u2;
  return (lane & 1) ? rad * sinf(ang) : rad * cosf(ang);
}

}  // namespace reddiff
