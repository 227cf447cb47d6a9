// Internal to operators/: buffers on an operator's device, CPU/CUDA kernel dispatch, and the shared base
// class of the operator implementations. Every operator is one class that runs on either device; the
// device decides which twin of each kernel (kernels/operator/*.h) is called.
#pragma once
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/operator/common.h"
#include "kernels/operator/fft.h"
#include "kernels/operator/separable.h"
#include "operators/operator.h"

namespace reddiff {

#ifdef REDDIFF_HAVE_CUDA
#define RD_OPS_CALL(dev, fn, ...) ((dev) == Device::CUDA ? fn##_cuda(__VA_ARGS__) : fn##_cpu(__VA_ARGS__))
#else
#define RD_OPS_CALL(dev, fn, ...) fn##_cpu(__VA_ARGS__)
#endif

// Owning buffer on a device (host memory for Device::CPU). Move-only.
class OpBuffer {
 public:
  OpBuffer() = default;
  OpBuffer(Device d, size_t bytes) : dev_(d), bytes_(bytes) { p_ = RD_OPS_CALL(d, ops_alloc, bytes); }
  ~OpBuffer() { release(); }
  OpBuffer(OpBuffer&& o) noexcept { *this = std::move(o); }
  OpBuffer& operator=(OpBuffer&& o) noexcept {
    if (this != &o) {
      release();
      dev_ = o.dev_;
      p_ = o.p_;
      bytes_ = o.bytes_;
      o.p_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  OpBuffer(const OpBuffer&) = delete;
  OpBuffer& operator=(const OpBuffer&) = delete;

  template <typename T>
  static OpBuffer from_host(Device d, const std::vector<T>& v) {
    OpBuffer b(d, v.size() * sizeof(T));
    if (!v.empty()) RD_OPS_CALL(d, ops_upload, b.p_, v.data(), v.size() * sizeof(T));
    return b;
  }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void release() {
    if (p_) RD_OPS_CALL(dev_, ops_free, p_);
    p_ = nullptr;
  }
  Device dev_ = Device::CPU;
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Shared base: shapes, device, and a cached measurement-sized scratch for the generic residual_vjp.
class OperatorBase : public Operator {
 public:
  OperatorBase(Shape4 x, Shape4 y, Device d) : xs_(x), ys_(y), dev_(d) {}
  Shape4 input_shape() const override { return xs_; }
  Shape4 measurement_shape() const override { return ys_; }
  Device device() const override { return dev_; }
  // Generic: apply into scratch, subtract y, vjp.
  void residual_vjp(const float* x, const float* y, float* g, void* stream = nullptr) const override;

 protected:
  float* scratch_y() const;
  void copy(float* dst, const float* src, int64_t count, void* stream) const {
    RD_OPS_CALL(dev_, ops_copy, dst, src, size_t(count) * sizeof(float), stream);
  }
  Shape4 xs_, ys_;
  Device dev_;
  mutable OpBuffer scratch_;
};

// An FFT plan on an operator's device (kernels/operator/fft.h).
class FftPlan {
 public:
  FftPlan() = default;
  FftPlan(Device d, const FftPlanArgs& a) : dev_(d) { h_ = RD_OPS_CALL(d, ops_fft_plan, a); }
  ~FftPlan() {
    if (h_) RD_OPS_CALL(dev_, ops_fft_destroy, h_);
  }
  FftPlan(const FftPlan&) = delete;
  FftPlan& operator=(const FftPlan&) = delete;
  OpsFftHandle get() const { return h_; }

 private:
  Device dev_ = Device::CPU;
  OpsFftHandle h_ = nullptr;
};

// Host-side sparse matrix (CSR) used for separable maps, and its copy on a device.
struct HostCsr {
  int rows = 0, cols = 0;
  std::vector<int> ptr{0}, idx;
  std::vector<float> val;
  void add_row(const std::vector<std::pair<int, double>>& entries);  // merges repeated columns
  HostCsr transpose() const;
  std::vector<double> dense() const;  // rows x cols, row-major
  static HostCsr from_dense(const std::vector<double>& m, int rows, int cols, double drop = 0.0);
};
struct DeviceCsr {
  DeviceCsr() = default;
  DeviceCsr(Device d, const HostCsr& m);
  OpBuffer ptr, idx, val;
  int rows = 0, cols = 0;
  OpsCsr view() const;
};

// Apply  out = Mh * in * Mw^T  to every plane (in: planes x Mh.cols x Mw.cols), through tmp
// (planes x Mh.cols x Mw.rows floats).
void separable_apply(Device d, const DeviceCsr& mh, const DeviceCsr& mw, const float* in, float* tmp, float* out,
                     int64_t planes, void* stream);

// Factories of the concrete operators (operators/op_*.cpp).
std::unique_ptr<Operator> make_denoise_operator(const OperatorOptions& o, Shape4 x, Device d);
std::unique_ptr<Operator> make_hdr_operator(const OperatorOptions& o, Shape4 x, Device d);
std::unique_ptr<Operator> make_colorize_operator(const OperatorOptions& o, Shape4 x, Device d);
std::unique_ptr<Operator> make_inpaint_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                                Device d);
std::unique_ptr<Operator> make_sr_operator(const OperatorOptions& o, Shape4 x, Device d);
std::unique_ptr<Operator> make_deblur_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                               Device d);
std::unique_ptr<Operator> make_phase_operator(const OperatorOptions& o, Shape4 x, Device d);
// The bin-measurement operators (operators/op_jpeg.cpp, operators/op_quant.cpp; operators/bins.h).
std::unique_ptr<Operator> make_jpeg_operator(const OperatorOptions& o, Shape4 x, Device d);
std::unique_ptr<Operator> make_quant_operator(const OperatorOptions& o, Shape4 x, Device d);
// The composition of o.compose's operators and then o.task's (operators/op_compose.cpp).
std::unique_ptr<Operator> make_composed_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                                 Device d);

// 1-D matrices of the sr operators (exposed for tests): rows = n/scale, cols = n.
HostCsr sr_pool_matrix(int n, int scale);
HostCsr sr_bicubic_matrix(int n, int scale);
// Exact pseudo-inverse of a full-row-rank matrix, M^T (M M^T)^-1, in double precision.
HostCsr pseudo_inverse_rows(const HostCsr& m);
// Reflect-boundary 1-D convolution with `k` (centre len/2) as an n x n matrix.
HostCsr reflect_conv_matrix(int n, const std::vector<float>& k);

// Image-id list of a batch: ids, or 0..n-1 when empty; throws when the count does not match.
std::vector<uint64_t> batch_ids(const std::vector<uint64_t>& ids, int n);

}  // namespace reddiff
