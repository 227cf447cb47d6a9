#include "engine/op_args.h"

namespace reddiff {

GroupNormArgs group_norm_args(const Op& op, const OpTensors& t, const float* gamma, const float* beta) {
  GroupNormArgs a;
  a.x = t.in[0].data, a.x_dtype = t.in[0].dtype, a.y = t.out.data, a.y_dtype = t.out.dtype;
  a.n = int(t.in[0].dim(0)), a.hw = int(t.in[0].dim(1) * t.in[0].dim(2)), a.c = int(t.in[0].dim(3));
  a.groups = op.groups, a.eps = op.eps;
  a.gamma = gamma, a.beta = beta;
  a.mode = op.mod;
  if (op.mod != NormMod::None) a.mod = t.in[1].as<float>() + op.mod_offset, a.mod_stride = int(t.in[1].dim(1));
  a.silu = op.silu;
  return a;
}

AttentionArgs attention_args(const Op& op, const OpTensors& t, void* workspace) {
  AttentionArgs a;
  a.qkv = t.in[0].data, a.out = t.out.data, a.dtype = t.out.dtype;
  a.n = int(t.out.dim(0)), a.t = int(t.out.dim(1) * t.out.dim(2)), a.c = int(t.out.dim(3));
  a.heads = op.heads, a.legacy = op.legacy_order, a.workspace = workspace;
  return a;
}

ResampleArgs resample_args(const OpTensors& t) {
  ResampleArgs a;
  a.x = t.in[0].data, a.y = t.out.data, a.dtype = t.out.dtype;
  a.n = int(t.in[0].dim(0)), a.h = int(t.in[0].dim(1)), a.w = int(t.in[0].dim(2)), a.c = int(t.in[0].dim(3));
  return a;
}

ConcatArgs concat_args(const OpTensors& t) {
  ConcatArgs a;
  a.a = t.in[0].data, a.b = t.in[1].data, a.y = t.out.data, a.dtype = t.out.dtype;
  a.n = int(t.out.dim(0)), a.hw = int(t.out.dim(1) * t.out.dim(2)), a.ca = int(t.in[0].dim(3)),
  a.cb = int(t.in[1].dim(3));
  return a;
}

InputPadArgs input_pad_args(const Graph& g, const OpTensors& t) {
  InputPadArgs a;
  a.x = t.in[0].as<float>(), a.y = t.out.data, a.dtype = t.out.dtype;
  a.n = g.n, a.c = int(t.in[0].dim(1)), a.h = g.h, a.w = g.w, a.hp = g.hp, a.wp = g.wp;
  return a;
}

OutputCropArgs output_crop_args(const Graph& g, const OpTensors& t) {
  OutputCropArgs a;
  a.x = t.in[0].data, a.y = t.out.as<float>(), a.dtype = t.in[0].dtype;
  a.n = g.n, a.c = int(t.out.dim(1)), a.h = g.h, a.w = g.w, a.hp = g.hp, a.wp = g.wp;
  return a;
}

TimestepEmbedArgs timestep_embed_args(const OpTensors& t) {
  TimestepEmbedArgs a;
  a.t = t.in[0].as<float>(), a.y = t.out.as<float>(), a.n = int(t.out.dim(0)), a.dim = int(t.out.dim(1));
  return a;
}

LabelEmbedArgs label_embed_args(const OpTensors& t, const float* table) {
  LabelEmbedArgs a;
  a.labels = t.in[1].as<int32_t>(), a.table = table, a.emb = t.out.as<float>();
  a.n = int(t.out.dim(0)), a.dim = int(t.out.dim(1));
  return a;
}

GroupNormBackwardArgs group_norm_backward_args(const Op& op, const OpTensors& t, const float* gamma,
                                               const float* beta) {
  GroupNormBackwardArgs a;
  const Tensor& x = t.in[0];
  const Tensor& gy = t.in[t.n_in - 1];
  a.x = x.data, a.x_dtype = x.dtype, a.gy = gy.data, a.gy_dtype = gy.dtype, a.gx = t.out.data;
  a.n = int(x.dim(0)), a.hw = int(x.dim(1) * x.dim(2)), a.c = int(x.dim(3));
  a.groups = op.groups, a.eps = op.eps, a.gamma = gamma, a.beta = beta;
  a.mode = op.mod;
  if (op.mod != NormMod::None) a.mod = t.in[1].as<float>() + op.mod_offset, a.mod_stride = int(t.in[1].dim(1));
  a.silu = op.silu, a.accumulate = op.accumulate;
  return a;
}

AttentionBackwardArgs attention_backward_args(const Op& op, const OpTensors& t, void* workspace) {
  AttentionBackwardArgs a;
  const Tensor& gy = t.in[1];
  a.qkv = t.in[0].data, a.gout = gy.data, a.gqkv = t.out.data, a.dtype = gy.dtype;
  a.n = int(gy.dim(0)), a.t = int(gy.dim(1) * gy.dim(2)), a.c = int(gy.dim(3));
  a.heads = op.heads, a.legacy = op.legacy_order, a.workspace = workspace;
  return a;
}

ResampleBackwardArgs resample_backward_args(const Op& op, const OpTensors& t) {
  ResampleBackwardArgs a;
  a.gy = t.in[0].data, a.gx = t.out.data, a.dtype = t.out.dtype;
  a.n = int(t.out.dim(0)), a.h = int(t.out.dim(1)), a.w = int(t.out.dim(2)), a.c = int(t.out.dim(3));
  a.accumulate = op.accumulate;
  return a;
}

ChannelSliceArgs channel_slice_args(const Op& op, const OpTensors& t) {
  ChannelSliceArgs a;
  a.x = t.in[0].data, a.y = t.out.data, a.dtype = t.out.dtype;
  a.rows = t.out.numel() / t.out.dim(3), a.cx = int(t.in[0].dim(3)), a.offset = op.channel_offset,
  a.cy = int(t.out.dim(3));
  a.accumulate = op.accumulate;
  return a;
}

GradAddArgs grad_add_args(const OpTensors& t) {
  GradAddArgs a;
  a.x = t.in[0].data, a.y = t.out.data, a.dtype = t.out.dtype, a.n = t.out.numel();
  return a;
}

InputPadBackwardArgs input_pad_backward_args(const Graph& g, const Op& op, const OpTensors& t) {
  InputPadBackwardArgs a;
  a.gy = t.in[0].data, a.gx = t.out.as<float>(), a.dtype = t.in[0].dtype;
  a.n = g.n, a.c = int(t.out.dim(1)), a.h = g.h, a.w = g.w, a.hp = g.hp, a.wp = g.wp;
  a.accumulate = op.accumulate;
  return a;
}

OutputCropBackwardArgs output_crop_backward_args(const Graph& g, const Op& op, const OpTensors& t) {
  OutputCropBackwardArgs a;
  a.gy = t.in[0].as<float>(), a.gx = t.out.data, a.dtype = t.out.dtype;
  a.n = g.n, a.c = int(t.in[0].dim(1)), a.h = g.h, a.w = g.w, a.hp = g.hp, a.wp = g.wp;
  a.accumulate = op.accumulate;
  return a;
}

}  // namespace reddiff
