// SVD view of a separable operator y = Mh X Mw^T per plane (sr: pooling or bicubic rows; deblur: the
// reflect-boundary convolution matrices of a Gaussian or uniform kernel), from the 1-D SVDs
// Mh = Uh Sh Vh^T, Mw = Uw Sw Vw^T:  A = (Uh (x) Uw) (Sh (x) Sw) (Vh (x) Vw)^T,  as the official
// Deblurring/SRConv classes. Spectral coordinate (c, i, j) pairs V's columns i (height) and j (width);
// measured where i < rows(Mh) and j < rows(Mw). The official code sorts the singular values; DDRM treats
// every coordinate on its own, so no order is needed. The four maps are two dense 1-D products each,
// run by the separable-matrix kernels (kernels/operator/separable.h).
#include <algorithm>

#include "operators/svd_impl.h"

namespace reddiff {
namespace {

// rows x cols row-major double -> CSR (exact zeros dropped).
HostCsr csr(const std::vector<double>& m, int rows, int cols) { return HostCsr::from_dense(m, rows, cols, 0.0); }

struct AxisSvd {
  int m = 0, n = 0;              // the 1-D matrix is m x n, m <= n
  std::vector<double> s;         // m singular values (thresholded)
  HostCsr vt, v, ut_pad, u_pad;  // V^T (n x n), V (n x n), [U^T; 0] (n x m), [U, 0] (m x n)
};

AxisSvd axis_svd(const std::vector<double>& mat, int m, int n, double zero) {
  if (m > n) throw Error("svd: a 1-D operator matrix with more rows than columns", 1);
  DenseSvd d = dense_svd(mat, m, n);
  AxisSvd a;
  a.m = m;
  a.n = n;
  a.s = d.s;
  for (double& v : a.s)
    if (v < zero) v = 0.0;
  std::vector<double> vt(size_t(n) * n), ut_pad(size_t(n) * m, 0.0), u_pad(size_t(m) * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k) vt[size_t(k) * n + i] = d.v[size_t(i) * n + k];
  for (int i = 0; i < m; ++i)
    for (int k = 0; k < m; ++k) {
      ut_pad[size_t(k) * m + i] = d.u[size_t(i) * m + k];
      u_pad[size_t(i) * n + k] = d.u[size_t(i) * m + k];
    }
  a.vt = csr(vt, n, n);
  a.v = csr(d.v, n, n);
  a.ut_pad = csr(ut_pad, n, m);
  a.u_pad = csr(u_pad, m, n);
  return a;
}

class SeparableSvd final : public SvdBase {
 public:
  SeparableSvd(const OperatorOptions& o, Shape4 x, const AxisSvd& h, const AxisSvd& w, std::string desc, Backend& be)
      : SvdBase(x, Shape4{x.n, x.c, h.m, w.m}, be, o.sigma_y), desc_(std::move(desc)) {
    vth_ = DeviceCsr(be, h.vt), vtw_ = DeviceCsr(be, w.vt);
    vh_ = DeviceCsr(be, h.v), vw_ = DeviceCsr(be, w.v);
    uth_ = DeviceCsr(be, h.ut_pad), utw_ = DeviceCsr(be, w.ut_pad);
    uh_ = DeviceCsr(be, h.u_pad), uw_ = DeviceCsr(be, w.u_pad);
    tmp_ = DeviceBuffer(be, size_t(x.numel()) * sizeof(float));
    std::vector<float> s(size_t(x.image_numel()), 0.0f);
    for (int c = 0; c < x.c; ++c)
      for (int i = 0; i < h.m; ++i)
        for (int j = 0; j < w.m; ++j) s[(size_t(c) * x.h + i) * x.w + j] = float(h.s[size_t(i)] * w.s[size_t(j)]);
    set_singulars(s);
  }
  std::string describe() const override { return desc_; }
  void vt(const float* x, float* v, void* st) const override { run(vth_, vtw_, x, v, st); }
  void v(const float* v, float* x, void* st) const override { run(vh_, vw_, v, x, st); }
  void ut(const float* y, float* u, void* st) const override { run(uth_, utw_, y, u, st); }
  void u(const float* u, float* y, void* st) const override { run(uh_, uw_, u, y, st); }

 private:
  void run(const DeviceCsr& mh, const DeviceCsr& mw, const float* in, float* out, void* st) const {
    separable_apply(dev_, mh, mw, in, tmp_.as<float>(), out, int64_t(xs_.n) * xs_.c, st);
  }
  std::string desc_;
  DeviceCsr vth_, vtw_, vh_, vw_, uth_, utw_, uh_, uw_;
  mutable DeviceBuffer tmp_;
};

}  // namespace

std::unique_ptr<SvdOperator> make_svd_separable(const OperatorOptions& o, Shape4 x, const std::vector<double>& mh,
                                                int mh_rows, const std::vector<double>& mw, int mw_rows, double zero,
                                                std::string desc, Backend& be) {
  AxisSvd h = axis_svd(mh, mh_rows, x.h, zero);
  AxisSvd w = (mh_rows == mw_rows && x.h == x.w && mh == mw) ? h : axis_svd(mw, mw_rows, x.w, zero);
  return std::make_unique<SeparableSvd>(o, x, h, w, std::move(desc), be);
}

}  // namespace reddiff
