// Super-resolution: y = Mh X Mw^T per plane with Mh, Mw the 1-D downsampling matrices of
//   pool:    average of each scale x scale block;          A^+ = nearest upsampling (exact: A A^+ = I)
//   bicubic: Keys cubic (a = -0.5) stretched by the scale, 4*scale taps centred on the output pixel
//            (output pixel i sits at input coordinate (i + 0.5)*scale - 0.5), normalised to sum 1, with
//            numpy/torch 'reflect' boundaries folded into the matrix; A^+ = Mh^+ (x) Mw^+, the exact
//            pseudo-inverse M^T (M M^T)^-1 of each 1-D matrix.
// The adjoint is the transposed matrices, exactly.
#include <algorithm>
#include <cmath>

#include "operators/op_impl.h"

namespace reddiff {

HostCsr sr_pool_matrix(int n, int scale) {
  HostCsr m;
  m.cols = n;
  for (int i = 0; i < n / scale; ++i) {
    std::vector<std::pair<int, double>> e;
    for (int t = 0; t < scale; ++t) e.push_back({i * scale + t, 1.0 / scale});
    m.add_row(e);
  }
  return m;
}

static double keys_cubic(double x, double a = -0.5) {
  x = std::fabs(x);
  if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

HostCsr sr_bicubic_matrix(int n, int scale) {
  HostCsr m;
  m.cols = n;
  for (int i = 0; i < n / scale; ++i) {
    const double c = (i + 0.5) * scale - 0.5;
    const int j0 = int(std::floor(c - 2.0 * scale)) + 1;
    std::vector<std::pair<int, double>> taps;
    double sum = 0.0;
    for (int j = j0; j < j0 + 4 * scale; ++j) {
      const double wv = keys_cubic((j - c) / scale);
      taps.push_back({j, wv});
      sum += wv;
    }
    for (auto& t : taps) {
      t.first = ops_reflect(t.first, n);
      t.second /= sum;
    }
    m.add_row(taps);
  }
  return m;
}

namespace {

HostCsr nearest_matrix(int n, int scale) {  // n x n/scale: x[j] = y[j / scale]
  HostCsr m;
  m.cols = n / scale;
  for (int j = 0; j < n; ++j) m.add_row({{j / scale, 1.0}});
  return m;
}

HostCsr pinv_dropped(const HostCsr& m) {
  // The pseudo-inverse of a banded matrix decays fast away from the band; entries below 1e-9 of the
  // largest are dropped (far below float precision) to keep it sparse.
  HostCsr p = pseudo_inverse_rows(m);
  float mx = 0.0f;
  for (float v : p.val) mx = std::max(mx, std::fabs(v));
  return HostCsr::from_dense(p.dense(), p.rows, p.cols, 1e-9 * mx);
}

class SrOperator final : public OperatorBase {
 public:
  SrOperator(const OperatorOptions& o, Shape4 x, Backend& be)
      : OperatorBase(x, Shape4{x.n, x.c, x.h / o.scale, x.w / o.scale}, be), scale_(o.scale), kernel_(o.sr_kernel) {
    HostCsr mh, mw, ph, pw;
    if (kernel_ == "pool") {
      mh = sr_pool_matrix(x.h, scale_);
      mw = sr_pool_matrix(x.w, scale_);
      ph = nearest_matrix(x.h, scale_);
      pw = nearest_matrix(x.w, scale_);
    } else {
      mh = sr_bicubic_matrix(x.h, scale_);
      mw = sr_bicubic_matrix(x.w, scale_);
      ph = pinv_dropped(mh);
      pw = x.w == x.h ? ph : pinv_dropped(mw);
    }
    mh_ = DeviceCsr(be, mh);
    mw_ = DeviceCsr(be, mw);
    mht_ = DeviceCsr(be, mh.transpose());
    mwt_ = DeviceCsr(be, mw.transpose());
    ph_ = DeviceCsr(be, ph);
    pw_ = DeviceCsr(be, pw);
    tmp_ = DeviceBuffer(be, size_t(x.n) * x.c * x.h * (x.w / scale_) * sizeof(float));
  }
  std::string describe() const override {
    if (kernel_ == "pool") return "sr (average pooling x" + std::to_string(scale_) + ", pinv nearest upsampling)";
    return "sr (bicubic x" + std::to_string(scale_) + ", a = -0.5, reflect boundary, exact pseudo-inverse)";
  }
  bool is_linear() const override { return true; }
  void apply(const float* x, float* y, void* s) const override {
    separable_apply(dev_, mh_, mw_, x, tmp_.as<float>(), y, planes(), s);
  }
  void vjp(const float*, const float* r, float* g, void* s) const override {
    separable_apply(dev_, mht_, mwt_, r, tmp_.as<float>(), g, planes(), s);
  }
  void pinv(const float* y, float* x, void* s) const override {
    separable_apply(dev_, ph_, pw_, y, tmp_.as<float>(), x, planes(), s);
  }

 private:
  int64_t planes() const { return int64_t(xs_.n) * xs_.c; }
  int scale_;
  std::string kernel_;
  DeviceCsr mh_, mw_, mht_, mwt_, ph_, pw_;
  mutable DeviceBuffer tmp_;
};

}  // namespace

std::unique_ptr<Operator> make_sr_operator(const OperatorOptions& o, Shape4 x, Backend& be) {
  if (x.h % o.scale != 0 || x.w % o.scale != 0)
    throw Error("--scale " + std::to_string(o.scale) + " does not divide the image size " + std::to_string(x.w) + "x" +
                std::to_string(x.h) + " (crop or pad the image to a multiple of " + std::to_string(o.scale) + ")");
  if (o.sr_kernel == "bicubic" && (x.h < 2 * o.scale || x.w < 2 * o.scale))
    throw Error("--sr-kernel bicubic: the image " + std::to_string(x.w) + "x" + std::to_string(x.h) + " is too small");
  return std::make_unique<SrOperator>(o, x, be);
}

}  // namespace reddiff
