// Deblurring: a true 2-D convolution of every channel with the image's kernel (centre (kh/2, kw/2)),
// with numpy/torch 'reflect' boundaries (the edge pixel is not repeated):
//   y[p, q] = sum_{a, b} k[a, b] x[reflect(p + kh/2 - a), reflect(q + kw/2 - b)]
// Separable kernels (gaussian, uniform) run as two 1-D passes (reflect folded into sparse matrices);
// others (motion, files) as a direct 2-D convolution. The adjoint is exact in both cases.
// A^+ is a Wiener/Tikhonov inverse: reflect-pad y by the kernel radius, X = conj(K) Y / (|K|^2 + lambda) on
// the padded grid (FFTW / cuFFT), crop; lambda = max(--wiener-reg, (2 sigma_y)^2).
#include <algorithm>
#include <cmath>

#include "kernels/operator/conv.h"
#include "kernels/operator/fft.h"
#include "operators/op_impl.h"

namespace reddiff {
namespace {

class DeblurOperator final : public OperatorBase {
 public:
  DeblurOperator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids, Backend& be)
      : OperatorBase(x, x, be) {
    BlurKernels bk = make_blur_kernels(o, x, ids);
    kh_ = bk.kh;
    kw_ = bk.kw;
    lambda_ = std::max(o.wiener_reg, 4.0 * o.sigma_y * o.sigma_y);
    desc_ = "deblur (" + bk.description + ", reflect boundary, Wiener pinv lambda " + fmt(lambda_) + ")";
    const int64_t planes = int64_t(x.n) * x.c;
    separable_ = !bk.row.empty();
    if (separable_) {
      HostCsr ch = reflect_conv_matrix(x.h, bk.col), cw = reflect_conv_matrix(x.w, bk.row);
      ch_ = DeviceCsr(be, ch);
      cw_ = DeviceCsr(be, cw);
      cht_ = DeviceCsr(be, ch.transpose());
      cwt_ = DeviceCsr(be, cw.transpose());
      tmp_ = DeviceBuffer(be, size_t(x.numel()) * sizeof(float));
    } else {
      k_ = DeviceBuffer::from_host(be, bk.k);
      build_tables(x.h, kh_, rh_, invh_ptr_, invh_idx_, be);
      build_tables(x.w, kw_, rw_, invw_ptr_, invw_idx_, be);
    }
    // Wiener pseudo-inverse on the reflect-padded grid.
    ph_ = kh_ / 2;
    pw_ = kw_ / 2;
    Hp_ = x.h + 2 * ph_;
    Wp_ = x.w + 2 * pw_;
    const int wc = Wp_ / 2 + 1;
    spec_m_ = int64_t(Hp_) * wc;
    std::vector<float> kimg(size_t(x.n) * Hp_ * Wp_, 0.0f);
    for (int i = 0; i < x.n; ++i)
      for (int a = 0; a < kh_; ++a)
        for (int b = 0; b < kw_; ++b)
          kimg[(size_t(i) * Hp_ + ops_wrap(a - kh_ / 2, Hp_)) * Wp_ + ops_wrap(b - kw_ / 2, Wp_)] +=
              bk.k[(size_t(i) * kh_ + a) * kw_ + b];
    std::vector<OpsComplex> spec(size_t(x.n) * spec_m_);
    {
      FftPlanArgs pa;
      pa.kind = FftKind::R2C;
      pa.h = Hp_;
      pa.w = Wp_;
      pa.batch = x.n;
      FftPlan hp(Device::CPU, pa);
      FftExecArgs e;
      e.plan = hp.get();
      e.in = kimg.data();
      e.out = spec.data();
      ops_fft_r2c(Device::CPU, e, nullptr);
    }
    const double norm = 1.0 / (double(Hp_) * Wp_);
    for (auto& v : spec) {
      const double re = v.re, im = v.im, den = (re * re + im * im + lambda_) / norm;
      v.re = float(re / den);
      v.im = float(-im / den);
    }
    filter_ = DeviceBuffer::from_host(be, spec);
    FftPlanArgs pa;
    pa.kind = FftKind::R2C;
    pa.h = Hp_;
    pa.w = Wp_;
    pa.batch = planes;
    plan_ = std::make_unique<FftPlan>(be.device(), pa);
    real_ = DeviceBuffer(be, size_t(planes) * Hp_ * Wp_ * sizeof(float));
    cplx_ = DeviceBuffer(be, size_t(planes) * spec_m_ * sizeof(OpsComplex));
  }

  std::string describe() const override { return desc_; }
  bool is_linear() const override { return true; }

  void apply(const float* x, float* y, void* s) const override {
    if (separable_) {
      separable_apply(dev_, ch_, cw_, x, tmp_.as<float>(), y, planes(), s);
      return;
    }
    Conv2dArgs a = conv_args(x, y);
    ops_conv2d_reflect(dev_, a, s);
  }
  void vjp(const float*, const float* r, float* g, void* s) const override {
    if (separable_) {
      separable_apply(dev_, cht_, cwt_, r, tmp_.as<float>(), g, planes(), s);
      return;
    }
    Conv2dArgs a = conv_args(r, g);
    ops_conv2d_reflect_adjoint(dev_, a, s);
  }
  void pinv(const float* y, float* x, void* s) const override {
    PadArgs p;
    p.in = y;
    p.out = real_.as<float>();
    p.planes = planes();
    p.h = xs_.h;
    p.w = xs_.w;
    p.ph = ph_;
    p.pw = pw_;
    ops_reflect_pad(dev_, p, s);
    FftExecArgs f;
    f.plan = plan_->get();
    f.in = real_.as<float>();
    f.out = cplx_.as<OpsComplex>();
    ops_fft_r2c(dev_, f, s);
    SpectrumArgs m;
    m.x = cplx_.as<OpsComplex>();
    m.f = filter_.as<OpsComplex>();
    m.n = xs_.n;
    m.c = xs_.c;
    m.m = spec_m_;
    ops_spectrum_mul(dev_, m, s);
    FftExecArgs b;
    b.plan = plan_->get();
    b.in = cplx_.as<OpsComplex>();
    b.out = real_.as<float>();
    ops_fft_c2r(dev_, b, s);
    PadArgs c = p;
    c.in = real_.as<float>();
    c.out = x;
    ops_crop(dev_, c, s);
  }

 private:
  static std::string fmt(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
  }
  int64_t planes() const { return int64_t(xs_.n) * xs_.c; }
  static void build_tables(int n, int k, DeviceBuffer& r, DeviceBuffer& inv_ptr, DeviceBuffer& inv_idx, Backend& be) {
    const int off = k - 1 - k / 2;
    std::vector<int> refl(size_t(n + k - 1));
    std::vector<std::vector<int>> inv(static_cast<size_t>(n));
    for (int u = 0; u < n + k - 1; ++u) {
      refl[size_t(u)] = ops_reflect(u - off, n);
      inv[size_t(refl[size_t(u)])].push_back(u);
    }
    std::vector<int> ptr{0}, idx;
    for (const auto& l : inv) {
      idx.insert(idx.end(), l.begin(), l.end());
      ptr.push_back(int(idx.size()));
    }
    r = DeviceBuffer::from_host(be, refl);
    inv_ptr = DeviceBuffer::from_host(be, ptr);
    inv_idx = DeviceBuffer::from_host(be, idx);
  }
  Conv2dArgs conv_args(const float* in, float* out) const {
    Conv2dArgs a;
    a.in = in;
    a.out = out;
    a.k = k_.as<float>();
    a.rh = rh_.as<int>();
    a.rw = rw_.as<int>();
    a.inv_h_ptr = invh_ptr_.as<int>();
    a.inv_h_idx = invh_idx_.as<int>();
    a.inv_w_ptr = invw_ptr_.as<int>();
    a.inv_w_idx = invw_idx_.as<int>();
    a.n = xs_.n;
    a.c = xs_.c;
    a.h = xs_.h;
    a.w = xs_.w;
    a.kh = kh_;
    a.kw = kw_;
    return a;
  }

  int kh_ = 0, kw_ = 0;
  double lambda_ = 0.0;
  std::string desc_;
  bool separable_ = false;
  DeviceCsr ch_, cw_, cht_, cwt_;
  DeviceBuffer k_, rh_, rw_, invh_ptr_, invh_idx_, invw_ptr_, invw_idx_;
  int ph_ = 0, pw_ = 0, Hp_ = 0, Wp_ = 0;
  int64_t spec_m_ = 0;
  DeviceBuffer filter_;
  std::unique_ptr<FftPlan> plan_;
  mutable DeviceBuffer tmp_, real_, cplx_;
};

}  // namespace

std::unique_ptr<Operator> make_deblur_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                               Backend& be) {
  return std::make_unique<DeblurOperator>(o, x, ids, be);
}

}  // namespace reddiff
