// Phase retrieval: y = |F(pad(x))| per channel, F the orthonormal centred 2-D DFT
// (fftshift(fft2(ifftshift(.), norm="ortho"))) and pad a zero padding of round(oversample/8 * size) pixels on
// each side of each axis, computed from the image size (the official code hard-codes 256 px). The VJP is
// Re(crop(F^H(r * U/|U|))), 0 where U = 0; A^+ is the official crop(|F^-1(y)|) (F^-1 = fftshift(ifft2(
// ifftshift(.), norm="ortho"))). The residual gradient shares the forward FFT: two FFTs instead of three.
#include <cmath>

#include "kernels/operator/fft.h"
#include "kernels/operator/phase.h"
#include "operators/op_impl.h"

namespace reddiff {
namespace {

class PhaseOperator final : public OperatorBase {
 public:
  PhaseOperator(const OperatorOptions& o, Shape4 x, int ph, int pw, Backend& be)
      : OperatorBase(x, Shape4{x.n, x.c, x.h + 2 * ph, x.w + 2 * pw}, be), oversample_(o.oversample) {
    g_.planes = int64_t(x.n) * x.c;
    g_.h = x.h;
    g_.w = x.w;
    g_.ph = ph;
    g_.pw = pw;
    g_.H = x.h + 2 * ph;
    g_.W = x.w + 2 * pw;
    scale_ = float(1.0 / std::sqrt(double(g_.H) * g_.W));
    FftPlanArgs pa;
    pa.kind = FftKind::C2C;
    pa.h = g_.H;
    pa.w = g_.W;
    pa.batch = g_.planes;
    plan_ = std::make_unique<FftPlan>(be.device(), pa);
    buf_ = DeviceBuffer(be, size_t(g_.planes) * g_.H * g_.W * sizeof(OpsComplex));
  }
  std::string describe() const override {
    char b[160];
    std::snprintf(b, sizeof b,
                  "phase-retrieval (|orthonormal centred FFT|, oversample %g: pad %d x %d, %dx%d magnitudes)",
                  oversample_, g_.pw, g_.ph, g_.W, g_.H);
    return b;
  }
  bool is_linear() const override { return false; }

  void apply(const float* x, float* y, void* s) const override {
    forward_spectrum(x, s);
    PhaseMagArgs m;
    m.u = buf();
    m.y = y;
    m.scale = scale_;
    m.g = g_;
    ops_phase_magnitude(dev_, m, s);
  }
  void vjp(const float* x, const float* r, float* g, void* s) const override { gradient(x, r, false, g, s); }
  void residual_vjp(const float* x, const float* y, float* g, void* s) const override { gradient(x, y, true, g, s); }
  void pinv(const float* y, float* x, void* s) const override {
    PhasePackArgs p;
    p.in = y;
    p.buf = buf();
    p.g = g_;
    p.sh = g_.H;
    p.sw = g_.W;
    p.oh = 0;
    p.ow = 0;
    ops_phase_pack(dev_, p, s);
    fft(+1, s);
    PhaseUnpackArgs u;
    u.b = buf();
    u.out = x;
    u.scale = scale_;
    u.modulus = true;
    u.g = g_;
    ops_phase_unpack(dev_, u, s);
  }

 private:
  OpsComplex* buf() const { return buf_.as<OpsComplex>(); }
  void fft(int direction, void* s) const {
    FftExecArgs e;
    e.plan = plan_->get();
    e.in = buf();
    e.out = buf();
    e.direction = direction;
    ops_fft_c2c(dev_, e, s);
  }
  void forward_spectrum(const float* x, void* s) const {
    PhasePackArgs p;
    p.in = x;
    p.buf = buf();
    p.g = g_;
    p.sh = g_.h;
    p.sw = g_.w;
    p.oh = g_.ph;
    p.ow = g_.pw;
    ops_phase_pack(dev_, p, s);
    fft(-1, s);
  }
  void gradient(const float* x, const float* r, bool residual, float* g, void* s) const {
    forward_spectrum(x, s);
    PhaseWeightArgs w;
    w.u = buf();
    w.r = r;
    w.scale = scale_;
    w.residual = residual;
    w.g = g_;
    ops_phase_weight(dev_, w, s);
    fft(+1, s);
    PhaseUnpackArgs u;
    u.b = buf();
    u.out = g;
    u.scale = scale_;
    u.modulus = false;
    u.g = g_;
    ops_phase_unpack(dev_, u, s);
  }

  double oversample_;
  PhaseGeom g_;
  float scale_ = 1.0f;
  std::unique_ptr<FftPlan> plan_;
  mutable DeviceBuffer buf_;
};

}  // namespace

std::unique_ptr<Operator> make_phase_operator(const OperatorOptions& o, Shape4 x, Backend& be) {
  const int ph = int(std::lround(o.oversample / 8.0 * x.h));
  const int pw = int(std::lround(o.oversample / 8.0 * x.w));
  return std::make_unique<PhaseOperator>(o, x, ph, pw, be);
}

}  // namespace reddiff
