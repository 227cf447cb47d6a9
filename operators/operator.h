// Degradation operators y = A(x) (+ noise) for the restoration tasks, on the CPU and on CUDA.
//
// Images are float NCHW in [-1, 1]. Every operator provides the forward map, the vector-Jacobian product
// (the exact adjoint for linear operators), a pseudo-inverse used to initialise solvers, and the fused
// data-term gradient J_A(x)^T (A(x) - y). docs/tasks.md documents every task with its options.
//
// Determinism: masks, blur kernels and noise of an image depend only on (--seed, image id), never on the
// batch an image is processed in or its position there.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/tensor.h"

namespace reddiff {

class Backend;            // engine/backend.h
struct JpegCoefficients;  // operators/jpeg_file.h

struct OperatorOptions {
  std::string task;  // inpaint|sr|deblur|colorize|denoise|phase-retrieval|hdr|jpeg|quant
  // Operators applied before `task`'s, in order (--compose): y = A_task(A_k(...A_1(x))). Each stage reads
  // the same options; stages must keep the image's shape (inpaint, deblur, hdr).
  std::vector<std::string> compose;

  // inpaint. mask: box|random|half|freeform, or a mask file (image: white = keep; .npy: > 0.5 = keep).
  std::string mask = "box";
  int box_size = 0;              // box side in pixels; 0: half the short side
  double fraction = 0.25;        // random|freeform: fraction of pixels removed (the holes)
  std::string side = "left";     // half: the half that is removed
  bool invert = false;           // swap kept and removed pixels (any mask)
  bool random_position = false;  // box: seeded random position instead of centred

  // sr
  int scale = 4;                   // 2|4|8 (pool), 2|4 (bicubic)
  std::string sr_kernel = "pool";  // pool|bicubic

  // deblur. blur: gaussian|uniform|motion, or a kernel file (image or .npy; normalised to sum 1).
  std::string blur = "gaussian";
  double blur_sigma = 3.0;        // gaussian standard deviation in pixels
  int blur_size = 0;              // kernel side (odd); 0: gaussian 2*ceil(3 sigma)+1, uniform 9, motion 61
  double motion_intensity = 0.5;  // motion: 0 straight .. 1 very shaky trajectory
  double wiener_reg = 1e-3;       // deblur pseudo-inverse: Tikhonov weight (raised to (2 sigma_y)^2 if larger)

  // phase-retrieval
  double oversample = 2.0;  // zero padding per side = round(oversample/8 * size), per axis

  // jpeg, quant (operators/bins.h): operators bound to their measurement. data_term: l2 (the official RED-diff
  // formulation: L2 to the decoded/quantised image with straight-through rounding; the default, which won the
  // validation sweep, docs/tasks.md) | interval (the squared distance to the measured bins).
  std::string data_term = "l2";
  std::vector<std::shared_ptr<const JpegCoefficients>> jpeg_files;  // jpeg: one file per image, one geometry
  int quant_bits = 4;                                               // quant: bits per channel, 1..8
  std::shared_ptr<const std::vector<float>> quant_image;            // quant: the measured image [N, C, H, W] in [-1, 1]
  // jpeg --measure and `reddiff degrade jpeg`: how a clean image is encoded (libjpeg, the IJG tables).
  int jpeg_quality = 20;                 // 1..100 (the official benchmark's jpeg20)
  std::string jpeg_subsampling = "420";  // 444|422|420

  // measurement noise (reddiff degrade; solvers only read sigma_y)
  double sigma_y = 0.0;            // on the [0,1] scale; the noise std in [-1,1] is 2*sigma_y
  std::string noise = "gaussian";  // gaussian|poisson (poisson: sigma_y is the std at white, see add_noise)
  uint64_t seed = 0;
};

// Validates an OperatorOptions (the command line's, tool/operator_options.h, or one built in code); a bad
// value is a one-line reddiff::Error naming the option.
void validate_operator_options(const OperatorOptions& o);
// The tasks, in documentation order.
const std::vector<std::string>& operator_tasks();

class Operator {  // all buffers are float NCHW, host pointers on CPU, device pointers on CUDA (stream = cudaStream_t or
                  // nullptr)
 public:
  virtual ~Operator() = default;
  virtual std::string describe() const = 0;
  virtual Shape4 input_shape() const = 0;        // the x shape given at construction
  virtual Shape4 measurement_shape() const = 0;  // y's shape for that x shape
  virtual Backend& backend() const = 0;          // where its memory comes from (it must outlive the operator)
  virtual Device device() const = 0;             // backend().device(): where its kernels run
  virtual bool is_linear() const = 0;
  virtual void apply(const float* x, float* y, void* stream = nullptr) const = 0;                // y = A(x)
  virtual void vjp(const float* x, const float* r, float* g, void* stream = nullptr) const = 0;  // g = J_A(x)^T r
  virtual void pinv(const float* y, float* x, void* stream = nullptr) const = 0;                 // x = A^+(y)
  // g = J_A(x)^T (A(x) - y): the gradient of 0.5*||A(x)-y||^2; fused where it pays. Scratch is internal, so an
  // operator must not be used from two threads or streams at once.
  virtual void residual_vjp(const float* x, const float* y, float* g, void* stream = nullptr) const;
  // Inpainting only: the per-pixel mask [N, 1, H, W] (1 = keep, 0 = hole) on the operator's device; null otherwise.
  virtual const float* mask() const { return nullptr; }
};

// image_ids: one stable id per image in the batch (masks/kernels/noise drawn per (seed, id), independent of
// batch composition); empty means 0..N-1. The operator runs on the backend's device and allocates its tables and
// scratch from it; the backend must outlive the operator.
std::unique_ptr<Operator> make_operator(const OperatorOptions& o, Shape4 x_shape,
                                        const std::vector<uint64_t>& image_ids, Backend& backend);

// Runs op.apply / op.pinv on host buffers whatever the operator's device (uploads, runs, downloads, syncs).
void apply_on_host(const Operator& op, const float* x_host, float* y_host);
void pinv_on_host(const Operator& op, const float* y_host, float* x_host);

// Adds measurement noise to y (host buffer) per image, drawn from (seed, image id):
//   gaussian: y += 2*sigma_y * N(0, 1)                       (sigma_y on the [0,1] scale)
//   poisson:  v = max((y+1)/2, 0); v' = Poisson(v / sigma_y^2) * sigma_y^2; y = 2v' - 1
//             (photon count 1/sigma_y^2 at white, so sigma_y is the noise std at white on the [0,1] scale)
// No-op when sigma_y == 0.
void add_noise(float* y, Shape4 y_shape, const OperatorOptions& o, const std::vector<uint64_t>& image_ids);

// The masks make_operator uses for inpainting: [N, H, W], 1 = keep, 0 = hole.
std::vector<float> make_inpaint_masks(const OperatorOptions& o, Shape4 x_shape, const std::vector<uint64_t>& image_ids);

// The blur kernels make_operator uses for deblurring: one kh x kw kernel per image (sum 1).
struct BlurKernels {
  int kh = 0, kw = 0;
  std::vector<float> k;         // [N, kh, kw]
  std::vector<float> row, col;  // separable kernels (gaussian, uniform): k = col (x) row; empty otherwise
  std::string description;      // "gaussian sigma 3 size 19", "motion 61x61 intensity 0.5", "file k.npy 31x31"
};
BlurKernels make_blur_kernels(const OperatorOptions& o, Shape4 x_shape, const std::vector<uint64_t>& image_ids);

}  // namespace reddiff
