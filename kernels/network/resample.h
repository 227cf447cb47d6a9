// Parameter-free resampling and layout kernels on NHWC activations.
#pragma once
#include "kernels/kernel_common.h"

namespace reddiff {

// 2x2 average pooling, stride 2: x [N, H, W, C] -> y [N, H/2, W/2, C]  (H, W even)
// nearest 2x upsampling:          x [N, H, W, C] -> y [N, 2H, 2W, C]
struct ResampleArgs {
  const void* x = nullptr;
  void* y = nullptr;
  DType dtype = DType::F32;
  int n = 0, h = 0, w = 0, c = 0;  // input dims
};
void avg_pool2_cpu(const ResampleArgs& a, Stream s);
void avg_pool2_cuda(const ResampleArgs& a, Stream s);
void upsample_nearest2_cpu(const ResampleArgs& a, Stream s);
void upsample_nearest2_cuda(const ResampleArgs& a, Stream s);
// The checks a resampling kernel and its adjoint share: sizes, dtype, and both buffers when there is work.
inline void resample_layout_check(const char* k, int n, int h, int w, int c, DType dtype, const void* in,
                                  const char* in_name, const void* out, const char* out_name) {
  kernel_require_size(n, k, "batch");
  kernel_require_size(h, k, "height");
  kernel_require_size(w, k, "width");
  kernel_require_size(c, k, "channel count");
  kernel_require_act_dtype(dtype, k);
  const bool work = int64_t(n) * h * w * c > 0;
  kernel_require_data(in, work, k, in_name);
  kernel_require_data(out, work, k, out_name);
}
inline void resample_check(const char* k, const ResampleArgs& a) {
  resample_layout_check(k, a.n, a.h, a.w, a.c, a.dtype, a.x, "x", a.y, "y");
}
inline void avg_pool2_check(const ResampleArgs& a) {
  resample_check("avg_pool2", a);
  if (a.h % 2 || a.w % 2)
    kernel_arg_error("avg_pool2", "odd input size " + std::to_string(a.h) + "x" + std::to_string(a.w));
}
inline void upsample_nearest2_check(const ResampleArgs& a) { resample_check("upsample_nearest2", a); }
RD_KERNEL_DISPATCHER(avg_pool2, ResampleArgs)
RD_KERNEL_DISPATCHER(upsample_nearest2, ResampleArgs)

// Channel concatenation [a, b]: a [N, HW, Ca], b [N, HW, Cb] -> y [N, HW, Ca + Cb]
struct ConcatArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  void* y = nullptr;
  DType dtype = DType::F32;
  int n = 0, hw = 0, ca = 0, cb = 0;
};
void concat_channels_cpu(const ConcatArgs& a, Stream s);
void concat_channels_cuda(const ConcatArgs& a, Stream s);
inline void concat_channels_check(const ConcatArgs& a) {
  const char* k = "concat_channels";
  kernel_require_size(a.n, k, "batch");
  kernel_require_size(a.hw, k, "pixel count");
  kernel_require_size(a.ca, k, "channel count");
  kernel_require_size(a.cb, k, "channel count");
  kernel_require_act_dtype(a.dtype, k);
  const int64_t rows = int64_t(a.n) * a.hw;
  kernel_require_data(a.a, rows * a.ca > 0, k, "a");
  kernel_require_data(a.b, rows * a.cb > 0, k, "b");
  kernel_require_data(a.y, rows * (a.ca + a.cb) > 0, k, "y");
}
RD_KERNEL_DISPATCHER(concat_channels, ConcatArgs)

// Network input: user NCHW f32 [N, C, H, W] -> NHWC [N, Hp, Wp, C] in dtype, reflect-padded at the
// bottom/right up to Hp x Wp (torch's 'reflect': the edge pixel is not repeated; needs Hp-H < H).
struct InputPadArgs {
  const float* x = nullptr;
  void* y = nullptr;
  DType dtype = DType::F32;
  int n = 0, c = 0, h = 0, w = 0, hp = 0, wp = 0;
};
void input_pad_cpu(const InputPadArgs& a, Stream s);
void input_pad_cuda(const InputPadArgs& a, Stream s);
// The padded size input_pad and its adjoint reach by one reflection (Hp - H < H, Wp - W < W).
inline bool input_pad_reflects(int h, int w, int hp, int wp) { return hp >= h && wp >= w && hp - h < h && wp - w < w; }
inline void input_pad_check(const InputPadArgs& a) {
  const char* k = "input_pad";
  kernel_require_size(a.n, k, "batch");
  kernel_require_size(a.c, k, "channel count");
  if (!input_pad_reflects(a.h, a.w, a.hp, a.wp))
    kernel_arg_error(k, "cannot reflect-pad " + std::to_string(a.h) + "x" + std::to_string(a.w) + " to " +
                            std::to_string(a.hp) + "x" + std::to_string(a.wp));
  kernel_require_act_dtype(a.dtype, k);
  const bool work = int64_t(a.n) * a.c * a.hp * a.wp > 0;
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.y, work, k, "y");
}
RD_KERNEL_DISPATCHER(input_pad, InputPadArgs)

// Network output: NHWC [N, Hp, Wp, C] in dtype -> user NCHW f32 [N, C, H, W], cropping the top-left H x W.
struct OutputCropArgs {
  const void* x = nullptr;
  float* y = nullptr;
  DType dtype = DType::F32;
  int n = 0, c = 0, h = 0, w = 0, hp = 0, wp = 0;
};
void output_crop_cpu(const OutputCropArgs& a, Stream s);
void output_crop_cuda(const OutputCropArgs& a, Stream s);
inline void output_crop_check(const OutputCropArgs& a) {
  const char* k = "output_crop";
  kernel_require_size(a.n, k, "batch");
  kernel_require_size(a.c, k, "channel count");
  kernel_require_size(a.h, k, "height");
  kernel_require_size(a.w, k, "width");
  if (a.hp < a.h || a.wp < a.w)
    kernel_arg_error(k, std::to_string(a.h) + "x" + std::to_string(a.w) + " is larger than " + std::to_string(a.hp) +
                            "x" + std::to_string(a.wp));
  kernel_require_act_dtype(a.dtype, k);
  const bool work = int64_t(a.n) * a.c * a.h * a.w > 0;
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.y, work, k, "y");
}
RD_KERNEL_DISPATCHER(output_crop, OutputCropArgs)

RD_HD int reflect_index(int i, int n) { return i < n ? i : 2 * n - 2 - i; }

}  // namespace reddiff
