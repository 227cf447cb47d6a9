#include "engine/op_args.h"

namespace reddiff {

GroupNormArgs group_norm_args(const Op& op, const OpTensors& t, const float* gamma, const float* beta) {
  GroupNormArgs a;
  a.x = t.in[0].data, a.x_dtype = t.in[0].dtype, a.y = t.out.data, a.y_dtype = t.out.dtype;
  a.n = int(t.in[0].dim(0)), a.hw = int(t.in[0].dim(1) * t.in[0].dim(2)), a.c = int(t.in[0].dim(3));
  a.groups = op.groups, a.eps = op.eps;
  a.gamma = gamma, a.beta = beta;
  a.mode = op.mod, a.mod = op.mod == NormMod::None ? nullptr : t.in[1].as<float>();
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
  a.n = int(t.out.dim(0)), a.hw = int(t.out.dim(1) * t.out.dim(2)), a.ca = int(t.in[0].dim(3)), a.cb = int(t.in[1].dim(3));
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

}  // namespace reddiff
