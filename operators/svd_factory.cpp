// Which operators have an SVD view, the factory, and the 1-D dense SVD (LAPACK dgesvd from OpenBLAS).
#include <algorithm>

#include "operators/svd_impl.h"

extern "C" {
// LAPACK (Fortran ABI; the trailing arguments are the hidden lengths of the two character arguments).
void dgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork, int* info,
             size_t jobu_len, size_t jobvt_len);
}

namespace reddiff {

DenseSvd dense_svd(const std::vector<double>& m, int rows, int cols) {
  if (rows <= 0 || cols <= 0 || m.size() != size_t(rows) * cols) throw Error("svd: bad matrix size", 1);
  std::vector<double> a(m.size());  // column-major copy
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) a[size_t(j) * rows + i] = m[size_t(i) * cols + j];
  const int k = std::min(rows, cols);
  std::vector<double> s(static_cast<size_t>(k)), u(size_t(rows) * rows), vt(size_t(cols) * cols);
  const char job = 'A';
  int info = 0, lwork = -1;
  double query = 0.0;
  dgesvd_(&job, &job, &rows, &cols, a.data(), &rows, s.data(), u.data(), &rows, vt.data(), &cols, &query, &lwork, &info,
          1, 1);
  if (info != 0) throw Error("svd: LAPACK dgesvd workspace query failed (info " + std::to_string(info) + ")", 1);
  lwork = std::max(1, int(query));
  std::vector<double> work(static_cast<size_t>(lwork));
  dgesvd_(&job, &job, &rows, &cols, a.data(), &rows, s.data(), u.data(), &rows, vt.data(), &cols, work.data(), &lwork,
          &info, 1, 1);
  if (info != 0) throw Error("svd: LAPACK dgesvd did not converge (info " + std::to_string(info) + ")", 1);
  DenseSvd d;
  d.rows = rows;
  d.cols = cols;
  d.s = s;
  d.u.resize(size_t(rows) * rows);
  d.v.resize(size_t(cols) * cols);
  for (int i = 0; i < rows; ++i)
    for (int c = 0; c < rows; ++c) d.u[size_t(i) * rows + c] = u[size_t(c) * rows + i];
  for (int j = 0; j < cols; ++j)  // V(j, c) = VT(c, j), VT column-major
    for (int c = 0; c < cols; ++c) d.v[size_t(j) * cols + c] = vt[size_t(j) * cols + c];
  return d;
}

bool svd_supported(const OperatorOptions& o, std::string* why) {
  std::string reason;
  if (!o.compose.empty()) {
    reason = "--compose has none here";
  } else if (o.task == "phase-retrieval" || o.task == "hdr") {
    reason = o.task + " is nonlinear";
  } else if (o.task == "jpeg" || o.task == "quant") {
    reason = o.task +
             " is not linear (its data term is the distance to the measured quantisation bins); use RED-diff, "
             "DPS or PiGDM";
  } else if (o.task == "deblur" && o.blur != "gaussian" && o.blur != "uniform") {
    reason = "deblur needs a separable kernel (--blur gaussian or uniform), not " +
             std::string(o.blur == "motion" ? "motion" : "a kernel file");
  } else if (o.task != "denoise" && o.task != "inpaint" && o.task != "colorize" && o.task != "sr" &&
             o.task != "deblur") {
    reason = "unknown task '" + o.task + "'";
  }
  if (reason.empty()) return true;
  if (why) *why = "DDRM needs an SVD of the operator: " + reason;
  return false;
}

std::unique_ptr<SvdOperator> make_svd_operator(const OperatorOptions& o, Shape4 x,
                                               const std::vector<uint64_t>& image_ids, Backend& be,
                                               const SvdOptions& so) {
  std::string why;
  if (!svd_supported(o, &why)) throw Error(why);
  validate_operator_options(o);
  if (x.n <= 0 || x.c <= 0 || x.h <= 0 || x.w <= 0) throw Error("operator: empty image batch " + x.str());
  if (!(so.zero_threshold >= 0.0)) throw Error("svd: the zero threshold must be >= 0");
  const std::vector<uint64_t> ids = batch_ids(image_ids, x.n);
  const std::string& t = o.task;
  if (t == "denoise") return make_svd_identity(o, x, be);
  if (t == "inpaint") return make_svd_inpaint(o, x, ids, be);
  if (t == "colorize") return make_svd_colorize(o, x, be);
  if (t == "sr") {
    const int f = o.scale;
    if (x.h % f != 0 || x.w % f != 0)
      throw Error("--scale " + std::to_string(f) + " does not divide the image size " + std::to_string(x.w) + "x" +
                  std::to_string(x.h) + " (crop or pad the image to a multiple of " + std::to_string(f) + ")");
    if (o.sr_kernel == "bicubic" && (x.h < 2 * f || x.w < 2 * f))
      throw Error("--sr-kernel bicubic: the image " + std::to_string(x.w) + "x" + std::to_string(x.h) +
                  " is too small");
    const bool pool = o.sr_kernel == "pool";
    HostCsr mh = pool ? sr_pool_matrix(x.h, f) : sr_bicubic_matrix(x.h, f);
    HostCsr mw = pool ? sr_pool_matrix(x.w, f) : sr_bicubic_matrix(x.w, f);
    return make_svd_separable(o, x, mh.dense(), mh.rows, mw.dense(), mw.rows, so.zero_threshold,
                              "sr (" + o.sr_kernel + " x" + std::to_string(f) + ", SVD of the 1-D matrices)", be);
  }
  // deblur, separable kernel: the same kernels as make_operator (one per batch; identical for every image)
  BlurKernels bk = make_blur_kernels(o, x, ids);
  HostCsr ch = reflect_conv_matrix(x.h, bk.col), cw = reflect_conv_matrix(x.w, bk.row);
  return make_svd_separable(o, x, ch.dense(), ch.rows, cw.dense(), cw.rows, so.zero_threshold,
                            "deblur (" + bk.description + ", SVD of the 1-D reflect convolutions)", be);
}

}  // namespace reddiff
