// The bin-measurement tasks' host helpers (operators/bins.h): the bound measurement, the official
// quantiser and N-bit detection.
#include "operators/bins.h"

#include <cmath>

#include "base/error.h"
#include "engine/backend.h"

namespace reddiff {

void quantize_levels(const float* x, float* y, int64_t count, int bits) {
  if (bits < 1 || bits > 16) throw Error("--bits must be in 1..8, got " + std::to_string(bits));
  const int levels = (1 << bits) - 1;
  for (int64_t i = 0; i < count; ++i) y[i] = quant_level_value(x[i], levels);
}

int detect_quant_bits(const float* y, int64_t count) {
  for (int bits = 1; bits <= 8; ++bits) {
    const double levels = double((1 << bits) - 1);
    bool ok = true;
    for (int64_t i = 0; i < count && ok; ++i) {
      const double s = (double(y[i]) + 1.0) * 127.5;  // the 8-bit value
      const double k = std::floor(s * levels / 255.0 + 0.5);
      ok = k >= 0 && k <= levels && std::fabs(s - std::floor(255.0 * k / levels + 0.5)) <= 1e-3;
    }
    if (ok) return bits;
  }
  return 0;
}

std::vector<float> bound_measurement(const OperatorOptions& o, Shape4 x) {
  validate_operator_options(o);
  if (o.task == "jpeg") {
    OperatorOptions oi = o;
    oi.data_term = "interval";
    auto cpu = make_cpu_backend();
    auto A = make_operator(oi, x, {}, *cpu);  // checks the files against the batch
    std::vector<float> c;
    for (const auto& f : o.jpeg_files) {
      const std::vector<float> v = jpeg_dequantised(*f);
      c.insert(c.end(), v.begin(), v.end());
    }
    if (o.data_term == "interval") return c;
    std::vector<float> y(size_t(x.numel()));
    A->pinv(c.data(), y.data());
    return y;
  }
  if (o.task == "quant") {
    if (!o.quant_image || int64_t(o.quant_image->size()) != x.numel())
      throw Error("quant: the measured image does not match the batch " + x.str(), 1);
    std::vector<float> y(o.quant_image->size());
    quantize_levels(o.quant_image->data(), y.data(), x.numel(), o.quant_bits);
    return y;
  }
  throw Error("task " + o.task + " is not bound to a measurement (only jpeg and quant are)", 1);
}

}  // namespace reddiff
