// SVD views of the linear operators that have one: A = U diag(s) V^T per image, the interface DDRM needs
// (the official H_functions of bahjat-kawar/ddrm functions/svd_replacement.py: Vt, V, Ut, U, singulars,
// add_zeros).
//
// Coordinates. A "spectral" vector of an image is [C, H, W] like the image itself (D = C*H*W numbers): its
// coordinates are those of V (v = V^T x), each with one singular value s_k >= 0. Coordinates that pair with a
// direction of the measurement y carry U^T y there (ut() writes them, u() reads them); the others (the
// official add_zeros padding) hold 0 in ut()'s output and s_k = 0. So  A x = u(s * vt(x))  and, for every
// measured coordinate with s_k > 0,  (U^T y)_k / s_k  is the measurement of (V^T x)_k.
//
//   task       V                                           s                           U
//   denoise    identity                                    1                           identity
//   inpaint    identity                                    the mask (1 keep, 0 hole)   identity
//   colorize   per pixel, a C x C orthogonal matrix whose  1/sqrt(C) on the first      the sign of the 1 x 1 SVD
//              first row is (1, ..., 1)/sqrt(C)            channel, 0 on the others
//   sr         per channel, V_h (x) V_w of the 1-D SVDs    s_h[i] s_w[j] (i < H/f,     U_h (x) U_w
//   deblur     M = U S V^T of each axis's 1-D matrix       j < W/f), 0 elsewhere
//              (pool or bicubic rows for sr, the reflect
//              convolution for separable blurs)
// The 1-D SVDs are LAPACK's dgesvd (OpenBLAS). Singular values of the 1-D matrices below `zero_threshold`
// are set to 0, as the official Deblurring/SRConv classes do (ZERO = 3e-2); then u(s * vt(x)) is A x with
// those components removed. Pooling's 1-D singular values are 1/sqrt(f) >= 0.35, so it is never affected.
//
// Tasks without an SVD here: phase-retrieval and hdr (nonlinear), deblur with a non-separable kernel
// (motion, a file), and compositions (--compose).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "operators/operator.h"

namespace reddiff {

struct SvdOptions {
  double zero_threshold = 3e-2;  // 1-D singular values below this are zeroed (sr, deblur); 0 keeps all
};

// Buffers are float NCHW on the operator's device; spectral vectors have the image's shape. Like the
// operators, a view keeps internal scratch (from its backend, which must outlive it): use one object from one
// thread/stream at a time.
class SvdOperator {
 public:
  virtual ~SvdOperator() = default;
  virtual std::string describe() const = 0;
  Shape4 input_shape() const { return xs_; }
  Shape4 measurement_shape() const { return ys_; }
  Backend& backend() const { return *be_; }
  Device device() const { return dev_; }
  // The measurement noise of the task's options on the [0, 1] scale (its std on images in [-1, 1] is 2 sigma_y).
  double sigma_y() const { return sigma_y_; }

  virtual void vt(const float* x, float* v, void* stream = nullptr) const = 0;  // v = V^T x
  virtual void v(const float* v, float* x, void* stream = nullptr) const = 0;   // x = V v
  virtual void ut(const float* y, float* u, void* stream = nullptr) const = 0;  // u = U^T y (spectral; 0 unmeasured)
  virtual void u(const float* u, float* y, void* stream = nullptr) const = 0;   // y = U u (reads measured coordinates)
  // Singular values [n, C, H, W] on the operator's device (0: unmeasured, or zeroed by the threshold).
  const float* singulars() const { return s_dev_; }
  const std::vector<float>& singulars_host() const { return s_host_; }

 protected:
  SvdOperator(Shape4 x, Shape4 y, Backend& b, double sigma_y)
      : xs_(x), ys_(y), be_(&b), dev_(b.device()), sigma_y_(sigma_y) {}
  Shape4 xs_, ys_;
  Backend* be_;
  Device dev_;
  double sigma_y_;
  std::vector<float> s_host_;
  const float* s_dev_ = nullptr;  // owned by the implementation
};

// True when make_svd_operator supports these options; otherwise false with the reason in *why (one line:
// "DDRM needs an SVD of the operator: hdr is nonlinear").
bool svd_supported(const OperatorOptions& o, std::string* why = nullptr);

// The SVD view of make_operator(o, x, ids, backend): the same masks and kernels for the same (seed, image ids).
// Throws reddiff::Error with svd_supported's reason for the tasks without one.
std::unique_ptr<SvdOperator> make_svd_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                               Backend& backend, const SvdOptions& so = {});

// The full SVD of a dense rows x cols matrix (row-major, double), by LAPACK dgesvd:
// m = U diag(s) V^T with U rows x rows, V cols x cols (row-major) and min(rows, cols) singular values,
// descending.
struct DenseSvd {
  int rows = 0, cols = 0;
  std::vector<double> u, s, v;
};
DenseSvd dense_svd(const std::vector<double>& m, int rows, int cols);

}  // namespace reddiff
