// The element-wise operators: denoise (identity), hdr (clip(2x, -1, 1)), colorize (channel mean) and
// inpaint (per-pixel mask).
#include <algorithm>
#include <cstdio>

#include "kernels/operator/pointwise.h"
#include "operators/op_impl.h"

namespace reddiff {
namespace {

PointwiseArgs pw(PointwiseKind k, const float* a, const float* b, float* out, int64_t n, float alpha = 1.0f) {
  PointwiseArgs p;
  p.kind = k;
  p.a = a;
  p.b = b;
  p.out = out;
  p.count = n;
  p.alpha = alpha;
  return p;
}

class DenoiseOperator final : public OperatorBase {
 public:
  DenoiseOperator(Shape4 x, Backend& be) : OperatorBase(x, x, be) {}
  std::string describe() const override { return "denoise (identity)"; }
  bool is_linear() const override { return true; }
  void apply(const float* x, float* y, void* s) const override { copy(y, x, xs_.numel(), s); }
  void vjp(const float*, const float* r, float* g, void* s) const override { copy(g, r, xs_.numel(), s); }
  void pinv(const float* y, float* x, void* s) const override { copy(x, y, xs_.numel(), s); }
  void residual_vjp(const float* x, const float* y, float* g, void* s) const override {
    ops_pointwise(dev_, pw(PointwiseKind::Sub, x, y, g, xs_.numel()), s);
  }
};

class HdrOperator final : public OperatorBase {
 public:
  HdrOperator(Shape4 x, Backend& be) : OperatorBase(x, x, be) {}
  std::string describe() const override { return "hdr (y = clip(2x, -1, 1), pinv y/2)"; }
  bool is_linear() const override { return false; }
  void apply(const float* x, float* y, void* s) const override {
    ops_pointwise(dev_, pw(PointwiseKind::Hdr, x, nullptr, y, xs_.numel()), s);
  }
  void vjp(const float* x, const float* r, float* g, void* s) const override {
    ops_pointwise(dev_, pw(PointwiseKind::HdrVjp, x, r, g, xs_.numel()), s);
  }
  void pinv(const float* y, float* x, void* s) const override {
    ops_pointwise(dev_, pw(PointwiseKind::Scale, y, nullptr, x, xs_.numel(), 0.5f), s);
  }
  void residual_vjp(const float* x, const float* y, float* g, void* s) const override {
    ops_pointwise(dev_, pw(PointwiseKind::HdrResidual, x, y, g, xs_.numel()), s);
  }
};

class ColorizeOperator final : public OperatorBase {
 public:
  ColorizeOperator(Shape4 x, Backend& be) : OperatorBase(x, Shape4{x.n, 1, x.h, x.w}, be) {}
  std::string describe() const override { return "colorize (y = channel mean, pinv replicates)"; }
  bool is_linear() const override { return true; }
  void apply(const float* x, float* y, void* s) const override { ops_channel_mean(dev_, args(x, nullptr, y, 1.0f), s); }
  void vjp(const float*, const float* r, float* g, void* s) const override {
    ops_channel_spread(dev_, args(r, nullptr, g, 1.0f / float(xs_.c)), s);
  }
  void pinv(const float* y, float* x, void* s) const override {
    ops_channel_spread(dev_, args(y, nullptr, x, 1.0f), s);
  }
  void residual_vjp(const float* x, const float* y, float* g, void* s) const override {
    ops_channel_residual(dev_, args(x, y, g, 1.0f), s);
  }

 private:
  ChannelArgs args(const float* in, const float* in1, float* out, float alpha) const {
    ChannelArgs a;
    a.in = in;
    a.in1 = in1;
    a.out = out;
    a.alpha = alpha;
    a.n = xs_.n;
    a.c = xs_.c;
    a.hw = int64_t(xs_.h) * xs_.w;
    return a;
  }
};

class InpaintOperator final : public OperatorBase {
 public:
  InpaintOperator(Shape4 x, Backend& be, const std::vector<float>& m, std::string desc)
      : OperatorBase(x, x, be), mask_(DeviceBuffer::from_host(be, m)), desc_(std::move(desc)) {}
  std::string describe() const override { return desc_; }
  bool is_linear() const override { return true; }
  void apply(const float* x, float* y, void* s) const override { ops_mask_mul(dev_, args(x, nullptr, y), s); }
  void vjp(const float*, const float* r, float* g, void* s) const override {
    ops_mask_mul(dev_, args(r, nullptr, g), s);
  }
  void pinv(const float* y, float* x, void* s) const override { ops_mask_mul(dev_, args(y, nullptr, x), s); }
  void residual_vjp(const float* x, const float* y, float* g, void* s) const override {
    ops_mask_residual(dev_, args(x, y, g), s);
  }
  const float* mask() const override { return mask_.as<float>(); }

 private:
  MaskArgs args(const float* a, const float* b, float* out) const {
    MaskArgs m;
    m.a = a;
    m.b = b;
    m.m = mask_.as<float>();
    m.out = out;
    m.n = xs_.n;
    m.c = xs_.c;
    m.hw = int64_t(xs_.h) * xs_.w;
    return m;
  }
  DeviceBuffer mask_;
  std::string desc_;
};

std::string inpaint_description(const OperatorOptions& o, Shape4 x, const std::vector<float>& m) {
  double kept = 0;
  for (float v : m) kept += v;
  const double hole = 1.0 - kept / double(m.size());
  char buf[256];
  std::string kind;
  if (o.mask == "box") {
    const int s = o.box_size > 0 ? o.box_size : std::min(x.h, x.w) / 2;
    kind = "box " + std::to_string(s) + "x" + std::to_string(s) +
           (o.random_position ? " at a seeded position" : " centred");
  } else if (o.mask == "random") {
    kind = "random pixels";
  } else if (o.mask == "half") {
    kind = o.side + " half";
  } else if (o.mask == "freeform") {
    kind = "free-form strokes";
  } else {
    kind = "mask file " + o.mask;
  }
  std::snprintf(buf, sizeof buf, "inpaint (%s%s, %.1f%% of pixels removed)", kind.c_str(), o.invert ? ", inverted" : "",
                100.0 * hole);
  return buf;
}

}  // namespace

std::unique_ptr<Operator> make_denoise_operator(const OperatorOptions&, Shape4 x, Backend& be) {
  return std::make_unique<DenoiseOperator>(x, be);
}
std::unique_ptr<Operator> make_hdr_operator(const OperatorOptions&, Shape4 x, Backend& be) {
  return std::make_unique<HdrOperator>(x, be);
}
std::unique_ptr<Operator> make_colorize_operator(const OperatorOptions&, Shape4 x, Backend& be) {
  return std::make_unique<ColorizeOperator>(x, be);
}
std::unique_ptr<Operator> make_inpaint_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                                Backend& be) {
  std::vector<float> m = make_inpaint_masks(o, x, ids);
  std::string desc = inpaint_description(o, x, m);
  return std::make_unique<InpaintOperator>(x, be, m, desc);
}

}  // namespace reddiff
