// Timestep embedding, SiLU, per-element bias/residual epilogue and class-label embedding.
#pragma once
#include "kernels/kernel_common.h"

namespace reddiff {

// y[n, :] = [cos(t_n f_0) .. cos(t_n f_{h-1}), sin(t_n f_0) .. sin(t_n f_{h-1}) (, 0 if dim odd)],
// f_i = exp(-ln(10000) * i / h), h = dim / 2. t is the integer timestep index as float. f32 throughout.
struct TimestepEmbedArgs {
  const float* t = nullptr;
  float* y = nullptr;
  int n = 0, dim = 0;
};
void timestep_embedding_cpu(const TimestepEmbedArgs& a, Stream s);
void timestep_embedding_cuda(const TimestepEmbedArgs& a, Stream s);
inline void timestep_embedding_check(const TimestepEmbedArgs& a) {
  const char* k = "timestep_embedding";
  kernel_require_size(a.n, k, "batch");
  kernel_require_size(a.dim, k, "dimension");
  const bool work = int64_t(a.n) * a.dim > 0;
  kernel_require_data(a.t, work, k, "t");
  kernel_require_data(a.y, work, k, "y");
}
RD_KERNEL_DISPATCHER(timestep_embedding, TimestepEmbedArgs)

// The frequency as guided-diffusion computes it on the host in float32: expf((-ln(1e4) * i) / half), the
// exponential correctly rounded (evaluated in double and rounded once, as glibc's expf is; the device's
// expf can be 2 ulp off, which moves cos(t f) by 1e-4 at t ~ 1000).
RD_HD float timestep_frequency(int i, int half) {
  float arg = (-9.210340371976184f * float(i)) / float(half);
  return float(exp(double(arg)));
}

// y = silu(x), f32, n elements (the time-MLP and emb_layers activations).
struct SiluArgs {
  const float* x = nullptr;
  float* y = nullptr;
  int64_t n = 0;
};
void silu_cpu(const SiluArgs& a, Stream s);
void silu_cuda(const SiluArgs& a, Stream s);
inline void silu_check(const SiluArgs& a) {
  kernel_require_size(a.n, "silu", "element count");
  kernel_require_data(a.x, a.n > 0, "silu", "x");
  kernel_require_data(a.y, a.n > 0, "silu", "y");
}
RD_KERNEL_DISPATCHER(silu, SiluArgs)

// emb[n, :] += table[labels[n], :]  (class-conditional models; f32)
struct LabelEmbedArgs {
  const int32_t* labels = nullptr;
  const float* table = nullptr;
  float* emb = nullptr;
  int n = 0, dim = 0;
};
void label_embedding_add_cpu(const LabelEmbedArgs& a, Stream s);
void label_embedding_add_cuda(const LabelEmbedArgs& a, Stream s);
// (The labels' range is the backends' check: it needs the labels on the host.)
inline void label_embedding_add_check(const LabelEmbedArgs& a) {
  const char* k = "label_embedding_add";
  kernel_require_size(a.n, k, "batch");
  kernel_require_size(a.dim, k, "dimension");
  const bool work = int64_t(a.n) * a.dim > 0;
  kernel_require_data(a.labels, work, k, "labels");
  kernel_require_data(a.table, work, k, "table");
  kernel_require_data(a.emb, work, k, "emb");
}
RD_KERNEL_DISPATCHER(label_embedding_add, LabelEmbedArgs)

// Convolution epilogue on NHWC: y[p, c] += bias[c] (+ residual[p, c]); rows = N*H*W.
struct BiasResidualArgs {
  void* y = nullptr;
  const float* bias = nullptr;     // [C] or null
  const void* residual = nullptr;  // same shape/dtype as y, or null
  DType dtype = DType::F32;
  int64_t rows = 0;
  int c = 0;
};
void bias_residual_cpu(const BiasResidualArgs& a, Stream s);
void bias_residual_cuda(const BiasResidualArgs& a, Stream s);
inline void bias_residual_check(const BiasResidualArgs& a) {
  const char* k = "bias_residual";
  kernel_require_size(a.rows, k, "row count");
  kernel_require_size(a.c, k, "channel count");
  kernel_require_act_dtype(a.dtype, k);
  kernel_require_data(a.y, a.rows * a.c > 0 && (a.bias || a.residual), k, "y");
}
RD_KERNEL_DISPATCHER(bias_residual, BiasResidualArgs)

}  // namespace reddiff
