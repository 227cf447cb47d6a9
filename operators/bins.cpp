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

JpegEncodeOptions jpeg_encode_options_like(const JpegCoefficients& f) {
  JpegEncodeOptions e;
  const std::string s = f.subsampling();
  e.subsampling = s == "4:4:4" ? "444" : s == "4:2:2" ? "422" : "420";
  e.tables.push_back(f.comps[0].quant);
  if (f.comps.size() == 3) e.tables.push_back(f.comps[1].quant);
  return e;
}

double jpeg_same_fraction(const JpegCoefficients& a, const JpegCoefficients& b) {
  if (a.comps.size() != b.comps.size()) return 0.0;
  int64_t total = 0, same = 0;
  for (size_t c = 0; c < a.comps.size(); ++c) {
    if (a.comps[c].coef.size() != b.comps[c].coef.size()) return 0.0;
    for (size_t i = 0; i < a.comps[c].coef.size(); ++i) same += a.comps[c].coef[i] == b.comps[c].coef[i];
    total += int64_t(a.comps[c].coef.size());
  }
  return total ? double(same) / double(total) : 0.0;
}

double bins_kept_fraction(const OperatorOptions& o, Shape4 x, int k, const float* img) {
  if (k < 0 || k >= x.n) throw Error("bins_kept_fraction: image " + std::to_string(k) + " of " + x.str(), 1);
  const int64_t n1 = x.image_numel();
  if (o.task == "jpeg") {
    if (size_t(k) >= o.jpeg_files.size()) throw Error("jpeg: no file bound for image " + std::to_string(k), 1);
    const JpegCoefficients& f = *o.jpeg_files[size_t(k)];
    const std::string s = f.subsampling();
    if (f.comps.size() == 3 && s != "4:4:4" && s != "4:2:2" && s != "4:2:0") return std::nan("");  // not encodable
    std::vector<float> luma;
    const float* src = img;
    int c = x.c;
    if (f.comps.size() == 1 && x.c == 3) {  // a grey file: the luma the data term constrains
      const size_t hw = size_t(x.h) * size_t(x.w);
      luma.resize(hw);
      for (size_t i = 0; i < hw; ++i) luma[i] = 0.299f * img[i] + 0.587f * img[hw + i] + 0.114f * img[2 * hw + i];
      src = luma.data(), c = 1;
    }
    const std::vector<uint8_t> bytes = encode_jpeg(src, c, x.h, x.w, jpeg_encode_options_like(f));
    return jpeg_same_fraction(read_jpeg_memory(bytes.data(), bytes.size(), "re-encoding"), f);
  }
  if (o.task == "quant") {
    if (!o.quant_image || int64_t(o.quant_image->size()) != x.numel())
      throw Error("quant: the measured image does not match the batch " + x.str(), 1);
    std::vector<float> mine(static_cast<size_t>(n1)), theirs(static_cast<size_t>(n1));
    quantize_levels(img, mine.data(), n1, o.quant_bits);
    quantize_levels(o.quant_image->data() + size_t(k) * size_t(n1), theirs.data(), n1, o.quant_bits);
    int64_t same = 0;
    for (int64_t i = 0; i < n1; ++i) same += mine[size_t(i)] == theirs[size_t(i)];
    return n1 ? double(same) / double(n1) : 0.0;
  }
  throw Error("task " + o.task + " is not bound to a measurement (only jpeg and quant are)", 1);
}

}  // namespace reddiff
