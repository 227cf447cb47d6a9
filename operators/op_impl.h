// Internal to operators/: the shared base class of the operator implementations, FFT plans and sparse
// matrices on an operator's device. Every operator is one class that runs on either device: its memory
// comes from the Backend it was made for (engine/device_buffer.h), and the device decides which twin of
// each kernel (kernels/operator/*.h, through its dispatcher) runs.
#pragma once
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/device_buffer.h"
#include "kernels/operator/common.h"
#include "kernels/operator/fft.h"
#include "kernels/operator/separable.h"
#include "operators/operator.h"

namespace reddiff {

// Shared base: shapes, the backend (memory) and its device (kernels), and a cached measurement-sized scratch
// for the generic residual_vjp. The backend must outlive the operator.
class OperatorBase : public Operator {
 public:
  OperatorBase(Shape4 x, Shape4 y, Backend& b) : xs_(x), ys_(y), be_(&b), dev_(b.device()) {}
  Shape4 input_shape() const override { return xs_; }
  Shape4 measurement_shape() const override { return ys_; }
  Backend& backend() const override { return *be_; }
  Device device() const override { return dev_; }
  // Generic: apply into scratch, subtract y, vjp.
  void residual_vjp(const float* x, const float* y, float* g, void* stream = nullptr) const override;

 protected:
  float* scratch_y() const;
  void copy(float* dst, const float* src, int64_t count, void* stream) const {
    be_->copy(dst, src, size_t(count) * sizeof(float), stream);
  }
  Shape4 xs_, ys_;
  Backend* be_;
  Device dev_;
  mutable DeviceBuffer scratch_;
};

// An FFT plan on an operator's device (kernels/operator/fft.h).
class FftPlan {
 public:
  FftPlan() = default;
  FftPlan(Device d, const FftPlanArgs& a) : dev_(d) { h_ = ops_fft_plan(d, a); }
  ~FftPlan() {
    if (h_) ops_fft_destroy(dev_, h_);
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
  DeviceCsr(Backend& b, const HostCsr& m);
  DeviceBuffer ptr, idx, val;
  int rows = 0, cols = 0;
  OpsCsr view() const;
};

// Apply  out = Mh * in * Mw^T  to every plane (in: planes x Mh.cols x Mw.cols), through tmp
// (planes x Mh.cols x Mw.rows floats).
void separable_apply(Device d, const DeviceCsr& mh, const DeviceCsr& mw, const float* in, float* tmp, float* out,
                     int64_t planes, void* stream);

// Factories of the concrete operators (operators/op_*.cpp).
std::unique_ptr<Operator> make_denoise_operator(const OperatorOptions& o, Shape4 x, Backend& b);
std::unique_ptr<Operator> make_hdr_operator(const OperatorOptions& o, Shape4 x, Backend& b);
std::unique_ptr<Operator> make_colorize_operator(const OperatorOptions& o, Shape4 x, Backend& b);
std::unique_ptr<Operator> make_inpaint_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                                Backend& b);
std::unique_ptr<Operator> make_sr_operator(const OperatorOptions& o, Shape4 x, Backend& b);
std::unique_ptr<Operator> make_deblur_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                               Backend& b);
std::unique_ptr<Operator> make_phase_operator(const OperatorOptions& o, Shape4 x, Backend& b);
// The bin-measurement operators (operators/op_jpeg.cpp, operators/op_quant.cpp; operators/bins.h).
std::unique_ptr<Operator> make_jpeg_operator(const OperatorOptions& o, Shape4 x, Backend& b);
std::unique_ptr<Operator> make_quant_operator(const OperatorOptions& o, Shape4 x, Backend& b);
// The composition of o.compose's operators and then o.task's (operators/op_compose.cpp).
std::unique_ptr<Operator> make_composed_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                                 Backend& b);

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
