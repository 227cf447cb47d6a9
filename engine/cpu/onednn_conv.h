// The CPU backend's convolutions through oneDNN (Debian's libdnnl, the library PyTorch's CPU convolutions
// use): NHWC f32 activations in and out, weights reordered once into the layout oneDNN picks for the
// machine's instruction set, bias and the residual add fused into the primitive (a binary post-op), and
// the transposed convolution of the VJP. Activations may be f32 or bf16 (the CPU's --precision bf16, on CPUs
// with AVX512-BF16 or AMX): a bf16 convolution multiplies bf16 inputs and weights and sums in f32.
// oneDNN chooses its kernels by the instructions the CPU has (cpuid), not by a table of CPU models.
#pragma once
#include <cstddef>
#include <memory>

#include "base/tensor.h"
#include "engine/graph.h"

namespace reddiff {

struct Param;

class OnednnConv {
 public:
  OnednnConv();
  ~OnednnConv();
  OnednnConv(const OnednnConv&) = delete;
  OnednnConv& operator=(const OnednnConv&) = delete;

  // Builds the primitive of a Conv2d or Conv2dBackwardData op of graph g (once per shape) and its weights.
  void prepare(const Graph& g, const Op& op);
  // y = conv(x) + bias (+ residual, when given); all NHWC, each f32 or bf16.
  void forward(const Op& op, const Tensor& x, const Tensor* residual, const Tensor& y);
  // gx (+)= conv^T(gy), adding when op.accumulate.
  void backward_data(const Op& op, const Tensor& gy, const Tensor& gx);
  // Drops the weights converted from this parameter.
  void release(const Param* p);
  // Bytes of oneDNN scratch and converted weights held.
  size_t bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The oneDNN version and the instruction set its kernels use here, e.g. "oneDNN 2.6.3 (avx512_core_bf16)".
std::string onednn_description();
// True when oneDNN runs bf16 convolutions natively here (AVX512-BF16 or AMX).
bool onednn_has_bf16();

}  // namespace reddiff
