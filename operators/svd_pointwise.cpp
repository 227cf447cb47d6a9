// SVD views of the element-wise linear operators: denoise (A = I), inpaint (A = diag(mask)) and colorize
// (per pixel, the 1 x C row (1/C, ..., 1/C)).
#include <cmath>

#include "kernels/operator/svd.h"
#include "operators/svd_impl.h"

namespace reddiff {
namespace {

// U = V = I; s = 1 (denoise) or the mask broadcast over the channels (inpaint).
class DiagonalSvd final : public SvdBase {
 public:
  DiagonalSvd(Shape4 x, Backend& be, double sigma_y, const std::vector<float>& s, std::string desc)
      : SvdBase(x, x, be, sigma_y), desc_(std::move(desc)) {
    set_singulars(s);
  }
  std::string describe() const override { return desc_; }
  void vt(const float* x, float* v, void* st) const override { copy(v, x, xs_.numel(), st); }
  void v(const float* v, float* x, void* st) const override { copy(x, v, xs_.numel(), st); }
  void ut(const float* y, float* u, void* st) const override { copy(u, y, xs_.numel(), st); }
  void u(const float* u, float* y, void* st) const override { copy(y, u, xs_.numel(), st); }

 private:
  std::string desc_;
};

// Per pixel: the row a = (1/C, ..., 1/C) = u s v_0^T, with V = [v_0, ...] orthogonal from LAPACK.
class ColorizeSvd final : public SvdBase {
 public:
  ColorizeSvd(Shape4 x, Backend& be, double sigma_y) : SvdBase(x, Shape4{x.n, 1, x.h, x.w}, be, sigma_y) {
    const int c = x.c;
    DenseSvd svd = dense_svd(std::vector<double>(size_t(c), 1.0 / c), 1, c);
    std::vector<float> vt(size_t(c) * c), v(size_t(c) * c), ut(size_t(c), 0.0f), u(size_t(c), 0.0f);
    for (int i = 0; i < c; ++i)
      for (int j = 0; j < c; ++j) {
        v[size_t(i) * c + j] = float(svd.v[size_t(i) * c + j]);
        vt[size_t(j) * c + i] = float(svd.v[size_t(i) * c + j]);
      }
    ut[0] = u[0] = float(svd.u[0]);  // +-1
    vt_ = DeviceBuffer::from_host(be, vt);
    v_ = DeviceBuffer::from_host(be, v);
    ut_ = DeviceBuffer::from_host(be, ut);  // C x 1: y -> first spectral channel
    u_ = DeviceBuffer::from_host(be, u);    // 1 x C: first spectral channel -> y
    std::vector<float> s(size_t(x.image_numel()), 0.0f);
    for (int64_t p = 0; p < int64_t(x.h) * x.w; ++p) s[size_t(p)] = float(svd.s[0]);
    set_singulars(s);
  }
  std::string describe() const override { return "colorize (per-pixel SVD of the channel mean)"; }
  void vt(const float* x, float* v, void* st) const override { run(vt_, xs_.c, xs_.c, x, v, st); }
  void v(const float* v, float* x, void* st) const override { run(v_, xs_.c, xs_.c, v, x, st); }
  void ut(const float* y, float* u, void* st) const override { run(ut_, xs_.c, 1, y, u, st); }
  void u(const float* u, float* y, void* st) const override { run(u_, 1, xs_.c, u, y, st); }

 private:
  void run(const DeviceBuffer& m, int rows, int cols, const float* in, float* out, void* st) const {
    ChannelMatrixArgs a;
    a.in = in;
    a.out = out;
    a.m = m.as<float>();
    a.rows = rows;
    a.cols = cols;
    a.n = xs_.n;
    a.hw = int64_t(xs_.h) * xs_.w;
    ops_channel_matrix(dev_, a, st);
  }
  DeviceBuffer vt_, v_, ut_, u_;
};

}  // namespace

std::unique_ptr<SvdOperator> make_svd_identity(const OperatorOptions& o, Shape4 x, Backend& be) {
  return std::make_unique<DiagonalSvd>(x, be, o.sigma_y, std::vector<float>(size_t(x.image_numel()), 1.0f),
                                       "denoise (identity)");
}

std::unique_ptr<SvdOperator> make_svd_inpaint(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                              Backend& be) {
  const std::vector<float> m = make_inpaint_masks(o, x, ids);  // [n, H, W]
  const int64_t hw = int64_t(x.h) * x.w;
  std::vector<float> s(size_t(x.numel()));
  for (int i = 0; i < x.n; ++i)
    for (int c = 0; c < x.c; ++c)
      for (int64_t p = 0; p < hw; ++p) s[size_t((int64_t(i) * x.c + c) * hw + p)] = m[size_t(i * hw + p)];
  return std::make_unique<DiagonalSvd>(x, be, o.sigma_y, s, "inpaint (mask as singular values)");
}

std::unique_ptr<SvdOperator> make_svd_colorize(const OperatorOptions& o, Shape4 x, Backend& be) {
  return std::make_unique<ColorizeSvd>(x, be, o.sigma_y);
}

}  // namespace reddiff
