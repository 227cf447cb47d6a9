// The network as data: a list of ops over values. Model code (adm_unet.cpp) builds a Graph for one
// input shape; the planner (plan.h) assigns every arena value an offset; a backend runs the ops.
// Activation values are NHWC ([N, H, W, C]); vectors are [N, F]. Values of kind External are bound at
// run time to caller buffers (the NCHW f32 input/output, timesteps, labels).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "kernels/network/group_norm.h"

namespace reddiff {

struct Param;         // model.h
struct ModelWeights;  // model.h

enum class OpKind {
  InputPad,       // in: x (external NCHW f32)                    -> NHWC, reflect-padded to the plan size
  OutputCrop,     // in: h                                         -> out (external NCHW f32), cropped
  TimestepEmbed,  // in: t (external f32 [N])                      -> [N, model_channels] f32
  LabelEmbedAdd,  // in: emb, labels (external int32 [N])         -> emb + table[labels] (new value)
  Linear,         // in: x [N, in] f32                             -> [N, out] f32; silu on the input if silu
  Conv2d,         // in: x, (residual)                             -> conv(x) + bias (+ residual)
  GroupNorm,      // in: x, (mod [N,2C] or [N,C] f32)              -> GN with modulation, optional SiLU
  Attention,      // in: qkv [N, T, 3C]                            -> [N, T, C]
  AvgPool2,       // in: x                                         -> 2x2 average pool
  Upsample2,      // in: x                                         -> nearest 2x
  Concat,         // in: a, b                                      -> [a, b] along channels
  // Backward ops of the vector-Jacobian product (engine/vjp_graph.h). Each writes the gradient of one
  // forward input; with `accumulate` set it adds to that gradient instead of overwriting it.
  Conv2dBackwardData,  // in: gy                                   -> gx (conv transposed, weights of the forward op)
  GroupNormBackward,   // in: x, (mod), gy                         -> gx (modulation and SiLU of the forward op)
  AttentionBackward,   // in: qkv, gy                              -> gqkv
  AvgPool2Backward,    // in: gy                                   -> gx (each input pixel gets gy / 4)
  Upsample2Backward,   // in: gy                                   -> gx (sum of the 2x2 block)
  ChannelSlice,        // in: gy                                   -> gy[..., offset : offset + C(gx)] (Concat backward)
  GradAdd,             // in: g                                    -> out += g
  InputPadBackward,    // in: gy (NHWC, padded)                    -> gx (external NCHW f32): reflected pixels summed
  OutputCropBackward,  // in: cotangent (external NCHW f32)        -> gy (NHWC, padded): zero outside the crop
};
const char* op_kind_name(OpKind k);

struct Op {
  OpKind kind;
  std::vector<int> inputs;
  int output = -1;
  std::string name;  // module path, e.g. "input_blocks.1.0.in_layers.2"
  const Param* weight = nullptr;
  const Param* bias = nullptr;
  // Conv2d
  int kernel = 3, stride = 1, pad = 1;
  // GroupNorm
  NormMod mod = NormMod::None;
  bool silu = false;  // GroupNorm: SiLU after; Linear: SiLU on the input
  int groups = 32;
  float eps = 1e-5f;
  // Attention
  int heads = 1;
  bool legacy_order = true;
  // Backward ops: add into the output instead of overwriting it; ChannelSlice: first channel.
  bool accumulate = false;
  int channel_offset = 0;
  // GroupNorm (and its backward) with modulation: the first column of this op's modulation in each row of
  // the mod input; the row is the input's full width (one batched time-embedding GEMM for every ResBlock).
  int mod_offset = 0;
};

enum class ValueKind { Arena, External };

struct Value {
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  ValueKind kind = ValueKind::Arena;
  std::string name;
  size_t bytes() const;
};

struct Graph {
  std::vector<Value> values;
  std::vector<Op> ops;
  // External bindings.
  int x_in = -1, t_in = -1, labels_in = -1, out = -1;
  // VJP graphs (append_vjp): the cotangent of out and the gradient of x_in (external NCHW f32), and
  // where the backward ops start (ops [0, forward_ops) are the forward pass).
  int cot_in = -1, grad_x = -1;
  size_t forward_ops = 0;
  int n = 0, h = 0, w = 0;  // caller's shape
  int hp = 0, wp = 0;       // padded network shape
  DType act_dtype = DType::F32;
  // Parameters the builder derived from the model's (e.g. the ResBlocks' time-embedding linears stacked
  // into one matrix); ops point into it. A backend that cached them releases them with the graph.
  std::shared_ptr<ModelWeights> derived;

  int add_value(std::vector<int64_t> shape, DType dtype, const std::string& name, ValueKind kind = ValueKind::Arena);
  Op& add_op(OpKind kind, std::vector<int> inputs, int output, const std::string& name);
  const Value& value(int id) const { return values[size_t(id)]; }
};

}  // namespace reddiff
