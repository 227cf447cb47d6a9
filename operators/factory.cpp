// make_operator, the generic residual, and the sparse-matrix helpers shared by the operators.
#include <cmath>
#include <map>

#include "kernels/operator/pointwise.h"
#include "kernels/operator/separable.h"
#include "operators/op_impl.h"

namespace reddiff {

std::vector<uint64_t> batch_ids(const std::vector<uint64_t>& ids, int n) {
  if (ids.empty()) {
    std::vector<uint64_t> v(size_t(n > 0 ? n : 0));
    for (int i = 0; i < n; ++i) v[size_t(i)] = uint64_t(i);
    return v;
  }
  if (int(ids.size()) != n)
    throw Error("operator: " + std::to_string(ids.size()) + " image ids for a batch of " + std::to_string(n), 1);
  return ids;
}

// Default for operators outside this folder: a temporary buffer from the operator's backend.
void Operator::residual_vjp(const float* x, const float* y, float* g, void* stream) const {
  const int64_t m = measurement_shape().numel();
  DeviceBuffer r(backend(), size_t(m) * sizeof(float));
  apply(x, r.as<float>(), stream);
  PointwiseArgs a;
  a.kind = PointwiseKind::Sub;
  a.a = r.as<float>();
  a.b = y;
  a.out = r.as<float>();
  a.count = m;
  ops_pointwise(device(), a, stream);
  vjp(x, r.as<float>(), g, stream);
  backend().sync_stream(stream);  // r is freed on return
}

float* OperatorBase::scratch_y() const {
  const size_t bytes = size_t(ys_.numel()) * sizeof(float);
  if (scratch_.bytes() < bytes) scratch_ = DeviceBuffer(*be_, bytes);
  return scratch_.as<float>();
}

void OperatorBase::residual_vjp(const float* x, const float* y, float* g, void* stream) const {
  float* r = scratch_y();
  apply(x, r, stream);
  PointwiseArgs a;
  a.kind = PointwiseKind::Sub;
  a.a = r;
  a.b = y;
  a.out = r;
  a.count = ys_.numel();
  ops_pointwise(dev_, a, stream);
  vjp(x, r, g, stream);
}

// ---------------------------------------------------------------- sparse matrices
void HostCsr::add_row(const std::vector<std::pair<int, double>>& entries) {
  std::map<int, double> merged;
  for (const auto& e : entries) merged[e.first] += e.second;
  for (const auto& e : merged) {
    if (e.second == 0.0) continue;
    idx.push_back(e.first);
    val.push_back(float(e.second));
  }
  ptr.push_back(int(idx.size()));
  ++rows;
}

HostCsr HostCsr::transpose() const {
  std::vector<std::vector<std::pair<int, double>>> cols_of(static_cast<size_t>(cols));
  for (int r = 0; r < rows; ++r)
    for (int k = ptr[size_t(r)]; k < ptr[size_t(r) + 1]; ++k)
      cols_of[size_t(idx[size_t(k)])].push_back({r, val[size_t(k)]});
  HostCsr t;
  t.cols = rows;
  for (const auto& c : cols_of) t.add_row(c);
  return t;
}

std::vector<double> HostCsr::dense() const {
  std::vector<double> m(size_t(rows) * cols, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int k = ptr[size_t(r)]; k < ptr[size_t(r) + 1]; ++k) m[size_t(r) * cols + idx[size_t(k)]] += val[size_t(k)];
  return m;
}

HostCsr HostCsr::from_dense(const std::vector<double>& m, int rows, int cols, double drop) {
  HostCsr out;
  out.cols = cols;
  for (int r = 0; r < rows; ++r) {
    std::vector<std::pair<int, double>> e;
    for (int c = 0; c < cols; ++c) {
      const double v = m[size_t(r) * cols + c];
      if (std::fabs(v) > drop) e.push_back({c, v});
    }
    out.add_row(e);
  }
  return out;
}

HostCsr pseudo_inverse_rows(const HostCsr& m) {
  // P = M^T (M M^T)^-1 via a Cholesky factorisation of the rows x rows Gram matrix.
  const int r = m.rows, c = m.cols;
  const std::vector<double> d = m.dense();
  std::vector<double> gram(size_t(r) * r, 0.0);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j <= i; ++j) {
      double s = 0.0;
      for (int k = 0; k < c; ++k) s += d[size_t(i) * c + k] * d[size_t(j) * c + k];
      gram[size_t(i) * r + j] = gram[size_t(j) * r + i] = s;
    }
  std::vector<double> L(size_t(r) * r, 0.0);
  for (int i = 0; i < r; ++i) {
    for (int j = 0; j <= i; ++j) {
      double s = gram[size_t(i) * r + j];
      for (int k = 0; k < j; ++k) s -= L[size_t(i) * r + k] * L[size_t(j) * r + k];
      if (i == j) {
        if (!(s > 1e-14)) throw Error("pseudo-inverse: the operator matrix is rank deficient", 1);
        L[size_t(i) * r + i] = std::sqrt(s);
      } else {
        L[size_t(i) * r + j] = s / L[size_t(j) * r + j];
      }
    }
  }
  // Solve (L L^T) Z = M for Z (r x c), then P = Z^T (c x r).
  std::vector<double> z = d;
  for (int col = 0; col < c; ++col) {
    for (int i = 0; i < r; ++i) {
      double s = z[size_t(i) * c + col];
      for (int k = 0; k < i; ++k) s -= L[size_t(i) * r + k] * z[size_t(k) * c + col];
      z[size_t(i) * c + col] = s / L[size_t(i) * r + i];
    }
    for (int i = r - 1; i >= 0; --i) {
      double s = z[size_t(i) * c + col];
      for (int k = i + 1; k < r; ++k) s -= L[size_t(k) * r + i] * z[size_t(k) * c + col];
      z[size_t(i) * c + col] = s / L[size_t(i) * r + i];
    }
  }
  std::vector<double> p(size_t(c) * r);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) p[size_t(j) * r + i] = z[size_t(i) * c + j];
  return HostCsr::from_dense(p, c, r);
}

HostCsr reflect_conv_matrix(int n, const std::vector<float>& k) {
  // y[p] = sum_a k[a] x[reflect(p + c - a)], c = len/2: a true convolution.
  const int len = int(k.size()), c = len / 2;
  HostCsr m;
  m.cols = n;
  for (int p = 0; p < n; ++p) {
    std::vector<std::pair<int, double>> e;
    for (int a = 0; a < len; ++a) e.push_back({ops_reflect(p + c - a, n), double(k[size_t(a)])});
    m.add_row(e);
  }
  return m;
}

DeviceCsr::DeviceCsr(Backend& b, const HostCsr& m)
    : ptr(DeviceBuffer::from_host(b, m.ptr)),
      idx(DeviceBuffer::from_host(b, m.idx)),
      val(DeviceBuffer::from_host(b, m.val)),
      rows(m.rows),
      cols(m.cols) {}

OpsCsr DeviceCsr::view() const {
  OpsCsr v;
  v.ptr = ptr.as<int>();
  v.idx = idx.as<int>();
  v.val = val.as<float>();
  v.rows = rows;
  v.cols = cols;
  return v;
}

void separable_apply(Device d, const DeviceCsr& mh, const DeviceCsr& mw, const float* in, float* tmp, float* out,
                     int64_t planes, void* stream) {
  SeparableArgs a;
  a.in = in;
  a.out = tmp;
  a.m = mw.view();
  a.planes = planes;
  a.extent = mh.cols;
  ops_csr_along_w(d, a, stream);
  SeparableArgs b;
  b.in = tmp;
  b.out = out;
  b.m = mh.view();
  b.planes = planes;
  b.extent = mw.rows;
  ops_csr_along_h(d, b, stream);
}

// ---------------------------------------------------------------- host helpers
static void run_on_host(const Operator& op, bool forward, const float* in, float* out) {
  const Shape4 xs = op.input_shape(), ys = op.measurement_shape();
  const int64_t nin = forward ? xs.numel() : ys.numel(), nout = forward ? ys.numel() : xs.numel();
  if (op.device() == Device::CPU) {
    if (forward)
      op.apply(in, out);
    else
      op.pinv(in, out);
    return;
  }
  Backend& be = op.backend();
  DeviceBuffer a(be, size_t(nin) * sizeof(float)), b(be, size_t(nout) * sizeof(float));
  be.upload(a.get(), in, size_t(nin) * sizeof(float));
  if (forward)
    op.apply(a.as<float>(), b.as<float>());
  else
    op.pinv(a.as<float>(), b.as<float>());
  be.sync_stream(nullptr);
  be.download(out, b.get(), size_t(nout) * sizeof(float));
}
void apply_on_host(const Operator& op, const float* x, float* y) { run_on_host(op, true, x, y); }
void pinv_on_host(const Operator& op, const float* y, float* x) { run_on_host(op, false, y, x); }

// ---------------------------------------------------------------- factory
std::unique_ptr<Operator> make_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& image_ids,
                                        Backend& backend) {
  validate_operator_options(o);
  if (x.n <= 0 || x.c <= 0 || x.h <= 0 || x.w <= 0) throw Error("operator: empty image batch " + x.str());
  const std::vector<uint64_t> ids = batch_ids(image_ids, x.n);
  if (!o.compose.empty()) return make_composed_operator(o, x, ids, backend);
  const std::string& t = o.task;
  if (t == "denoise") return make_denoise_operator(o, x, backend);
  if (t == "hdr") return make_hdr_operator(o, x, backend);
  if (t == "colorize") return make_colorize_operator(o, x, backend);
  if (t == "inpaint") return make_inpaint_operator(o, x, ids, backend);
  if (t == "sr") return make_sr_operator(o, x, backend);
  if (t == "deblur") return make_deblur_operator(o, x, ids, backend);
  if (t == "phase-retrieval") return make_phase_operator(o, x, backend);
  if (t == "jpeg") return make_jpeg_operator(o, x, backend);
  if (t == "quant") return make_quant_operator(o, x, backend);
  throw Error("unknown task '" + t + "'");
}

}  // namespace reddiff
