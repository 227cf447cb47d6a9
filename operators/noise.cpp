// Measurement noise (see add_noise in operators/operator.h for the definition of both models).
#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "operators/op_impl.h"
#include "operators/rng.h"

namespace reddiff {

void add_noise(float* y, Shape4 s, const OperatorOptions& o, const std::vector<uint64_t>& image_ids) {
  if (!(o.sigma_y > 0.0)) return;
  const std::vector<uint64_t> ids = batch_ids(image_ids, s.n);
  const int64_t per = s.image_numel();
  const bool poisson = o.noise == "poisson";
  if (!poisson && o.noise != "gaussian") throw Error("--noise: unknown noise model '" + o.noise + "'");
  const double photons = 1.0 / (o.sigma_y * o.sigma_y);
  for (int b = 0; b < s.n; ++b) {
    OpRng rng(o.seed, ids[size_t(b)], RngStream::Noise);
    float* yb = y + int64_t(b) * per;
    for (int64_t i = 0; i < per; ++i) {
      if (poisson) {
        const double v = std::max(0.0, (double(yb[i]) + 1.0) * 0.5);
        yb[i] = float(2.0 * rng.poisson(v * photons) / photons - 1.0);
      } else {
        yb[i] = float(double(yb[i]) + 2.0 * o.sigma_y * rng.normal());
      }
    }
  }
}

}  // namespace reddiff
