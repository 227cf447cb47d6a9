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

// Network output: NHWC [N, Hp, Wp, C] in dtype -> user NCHW f32 [N, C, H, W], cropping the top-left H x W.
struct OutputCropArgs {
  const void* x = nullptr;
  float* y = nullptr;
  DType dtype = DType::F32;
  int n = 0, c = 0, h = 0, w = 0, hp = 0, wp = 0;
};
void output_crop_cpu(const OutputCropArgs& a, Stream s);
void output_crop_cuda(const OutputCropArgs& a, Stream s);

RD_HD int reflect_index(int i, int n) { return i < n ? i : 2 * n - 2 - i; }

}  // namespace reddiff
