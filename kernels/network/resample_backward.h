// Adjoints of the parameter-free layout kernels (kernels/network/resample.h), for the network's VJP. Every
// gradient keeps the dtype of the forward value it belongs to; with `accumulate` the result is added
// to what the output already holds (a value with several consumers), else it overwrites it.
#pragma once
#include "kernels/network/resample.h"

namespace reddiff {

// Adjoint of avg_pool2:         gx[n, i, j, c] (+)= gy[n, i/2, j/2, c] / 4
// Adjoint of upsample_nearest2: gx[n, i, j, c] (+)= sum of gy over the 2x2 block of (i, j)
// n, h, w, c are the forward input's (= gx's) dims.
struct ResampleBackwardArgs {
  const void* gy = nullptr;
  void* gx = nullptr;
  DType dtype = DType::F32;
  int n = 0, h = 0, w = 0, c = 0;
  bool accumulate = false;
};
void avg_pool2_backward_cpu(const ResampleBackwardArgs& a, Stream s);
void avg_pool2_backward_cuda(const ResampleBackwardArgs& a, Stream s);
void upsample_nearest2_backward_cpu(const ResampleBackwardArgs& a, Stream s);
void upsample_nearest2_backward_cuda(const ResampleBackwardArgs& a, Stream s);
inline void resample_backward_check(const char* k, const ResampleBackwardArgs& a) {
  resample_layout_check(k, a.n, a.h, a.w, a.c, a.dtype, a.gy, "gy", a.gx, "gx");
}
inline void avg_pool2_backward_check(const ResampleBackwardArgs& a) {
  resample_backward_check("avg_pool2_backward", a);
  if (a.h % 2 || a.w % 2) kernel_arg_error("avg_pool2_backward", "odd input size");
}
inline void upsample_nearest2_backward_check(const ResampleBackwardArgs& a) {
  resample_backward_check("upsample_nearest2_backward", a);
}
RD_KERNEL_DISPATCHER(avg_pool2_backward, ResampleBackwardArgs)
RD_KERNEL_DISPATCHER(upsample_nearest2_backward, ResampleBackwardArgs)

// Adjoint of concat_channels, one side at a time: y[r, :] (+)= x[r, offset : offset + cy]; x is [rows, cx].
struct ChannelSliceArgs {
  const void* x = nullptr;
  void* y = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int cx = 0, offset = 0, cy = 0;
  bool accumulate = false;
};
void channel_slice_cpu(const ChannelSliceArgs& a, Stream s);
void channel_slice_cuda(const ChannelSliceArgs& a, Stream s);
inline void channel_slice_check(const ChannelSliceArgs& a) {
  const char* k = "channel_slice";
  kernel_require_size(a.rows, k, "row count");
  kernel_require_size(a.cy, k, "channel count");
  if (a.offset < 0 || a.offset + a.cy > a.cx) kernel_arg_error(k, "channels out of range");
  kernel_require_act_dtype(a.dtype, k);
  const bool work = a.rows * a.cy > 0;
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.y, work, k, "y");
}
RD_KERNEL_DISPATCHER(channel_slice, ChannelSliceArgs)

// y += x over n elements (gradient accumulation where a value has several consumers).
struct GradAddArgs {
  const void* x = nullptr;
  void* y = nullptr;
  DType dtype = DType::F32;
  int64_t n = 0;
};
void grad_add_cpu(const GradAddArgs& a, Stream s);
void grad_add_cuda(const GradAddArgs& a, Stream s);
inline void grad_add_check(const GradAddArgs& a) {
  kernel_require_size(a.n, "grad_add", "element count");
  kernel_require_act_dtype(a.dtype, "grad_add");
  kernel_require_data(a.x, a.n > 0, "grad_add", "x");
  kernel_require_data(a.y, a.n > 0, "grad_add", "y");
}
RD_KERNEL_DISPATCHER(grad_add, GradAddArgs)

// Adjoint of input_pad: gy NHWC [N, Hp, Wp, C] (dtype) -> gx NCHW f32 [N, C, H, W]: each input pixel
// gets its own gradient plus those of the padded pixels that reflect onto it.
struct InputPadBackwardArgs {
  const void* gy = nullptr;
  float* gx = nullptr;
  DType dtype = DType::F32;
  int n = 0, c = 0, h = 0, w = 0, hp = 0, wp = 0;
  bool accumulate = false;
};
void input_pad_backward_cpu(const InputPadBackwardArgs& a, Stream s);
void input_pad_backward_cuda(const InputPadBackwardArgs& a, Stream s);
inline void input_pad_backward_check(const InputPadBackwardArgs& a) {
  const char* k = "input_pad_backward";
  kernel_require_size(a.n, k, "batch");
  kernel_require_size(a.c, k, "channel count");
  if (!input_pad_reflects(a.h, a.w, a.hp, a.wp)) kernel_arg_error(k, "bad padded size");
  kernel_require_act_dtype(a.dtype, k);
  const bool work = int64_t(a.n) * a.c * a.h * a.w > 0;
  kernel_require_data(a.gy, work, k, "gy");
  kernel_require_data(a.gx, work, k, "gx");
}
RD_KERNEL_DISPATCHER(input_pad_backward, InputPadBackwardArgs)

// Adjoint of output_crop: gy NCHW f32 [N, C, H, W] -> gx NHWC [N, Hp, Wp, C] (dtype), zero outside the
// top-left H x W.
struct OutputCropBackwardArgs {
  const float* gy = nullptr;
  void* gx = nullptr;
  DType dtype = DType::F32;
  int n = 0, c = 0, h = 0, w = 0, hp = 0, wp = 0;
  bool accumulate = false;
};
void output_crop_backward_cpu(const OutputCropBackwardArgs& a, Stream s);
void output_crop_backward_cuda(const OutputCropBackwardArgs& a, Stream s);
inline void output_crop_backward_check(const OutputCropBackwardArgs& a) {
  const char* k = "output_crop_backward";
  kernel_require_size(a.n, k, "batch");
  kernel_require_size(a.c, k, "channel count");
  kernel_require_size(a.h, k, "height");
  kernel_require_size(a.w, k, "width");
  if (a.hp < a.h || a.wp < a.w) kernel_arg_error(k, "bad padded size");
  kernel_require_act_dtype(a.dtype, k);
  const bool work = int64_t(a.n) * a.c * a.hp * a.wp > 0;
  kernel_require_data(a.gy, int64_t(a.n) * a.c * a.h * a.w > 0, k, "gy");
  kernel_require_data(a.gx, work, k, "gx");
}
RD_KERNEL_DISPATCHER(output_crop_backward, OutputCropBackwardArgs)

// The padded index that reflect_index(., n) maps onto i besides i itself, or -1: r = 2n - 2 - i when
// n <= r < np.
RD_HD int reflect_partner(int i, int n, int np) {
  int r = 2 * n - 2 - i;
  return (r >= n && r < np) ? r : -1;
}

// Gradient of one input pixel (i, j) of input_pad: the padded gradient summed over the (up to 4)
// padded positions that read it. g(ii, jj) loads the padded gradient.
template <typename G>
RD_HD float input_pad_adjoint(int i, int j, int h, int w, int hp, int wp, G g) {
  int i2 = reflect_partner(i, h, hp), j2 = reflect_partner(j, w, wp);
  float v = g(i, j);
  if (j2 >= 0) v += g(i, j2);
  if (i2 >= 0) {
    v += g(i2, j);
    if (j2 >= 0) v += g(i2, j2);
  }
  return v;
}

}  // namespace reddiff
