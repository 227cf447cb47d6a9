#include "engine/vjp_graph.h"

#include "base/error.h"

namespace reddiff {

namespace {

struct VjpBuilder {
  Graph& g;
  std::vector<int> grad;     // per forward value: its gradient value, or -1 while none has arrived
  std::vector<bool> from_x;  // the value depends on the image input

  // An op writing (or adding into) the gradient of forward value v.
  Op& contribute(int v, OpKind kind, std::vector<int> inputs, const std::string& name) {
    bool acc = grad[size_t(v)] >= 0;
    if (!acc) {
      const Value& fv = g.value(v);
      grad[size_t(v)] = v == g.x_in ? g.grad_x : g.add_value(fv.shape, fv.dtype, fv.name + ".grad");
    }
    Op& op = g.add_op(kind, std::move(inputs), grad[size_t(v)], name);
    op.accumulate = acc;
    return op;
  }

  void backward(const Op& f) {
    int gy = grad[size_t(f.output)];
    const std::string name = f.name + ".backward";
    switch (f.kind) {
      case OpKind::OutputCrop:
        contribute(f.inputs[0], OpKind::OutputCropBackward, {gy}, name);
        return;
      case OpKind::InputPad:
        contribute(f.inputs[0], OpKind::InputPadBackward, {gy}, name);
        return;
      case OpKind::Conv2d: {
        if (from_x[size_t(f.inputs[0])]) {
          // The op is copied for its weight, kernel, stride and padding.
          Op& b = contribute(f.inputs[0], OpKind::Conv2dBackwardData, {gy}, name);
          b.weight = f.weight, b.kernel = f.kernel, b.stride = f.stride, b.pad = f.pad;
        }
        if (f.inputs.size() > 1 && from_x[size_t(f.inputs[1])]) {
          int r = f.inputs[1];
          // The residual's gradient is gy itself: share the value when it is the first to arrive (gy has no
          // reader after the convolution's backward, which was emitted above).
          if (grad[size_t(r)] < 0 && g.value(r).dtype == g.value(f.output).dtype)
            grad[size_t(r)] = gy;
          else
            contribute(r, OpKind::GradAdd, {gy}, f.name + ".residual.backward");
        }
        return;
      }
      case OpKind::GroupNorm: {
        std::vector<int> in{f.inputs[0]};
        if (f.mod != NormMod::None) in.push_back(f.inputs[1]);
        in.push_back(gy);
        Op& b = contribute(f.inputs[0], OpKind::GroupNormBackward, in, name);
        b.weight = f.weight, b.bias = f.bias, b.mod = f.mod, b.mod_offset = f.mod_offset;
        b.silu = f.silu, b.groups = f.groups, b.eps = f.eps;
        return;
      }
      case OpKind::Attention: {
        Op& b = contribute(f.inputs[0], OpKind::AttentionBackward, {f.inputs[0], gy}, name);
        b.heads = f.heads, b.legacy_order = f.legacy_order;
        return;
      }
      case OpKind::AvgPool2:
        contribute(f.inputs[0], OpKind::AvgPool2Backward, {gy}, name);
        return;
      case OpKind::Upsample2:
        contribute(f.inputs[0], OpKind::Upsample2Backward, {gy}, name);
        return;
      case OpKind::Concat: {
        int off = 0;
        for (int in : f.inputs) {
          int c = int(g.value(in).shape.back());
          if (from_x[size_t(in)]) contribute(in, OpKind::ChannelSlice, {gy}, name).channel_offset = off;
          off += c;
        }
        return;
      }
      default:
        throw Error(std::string("vjp: no backward for ") + op_kind_name(f.kind) + " (" + f.name + ") on the image path",
                    1);
    }
  }
};

}  // namespace

void append_vjp(Graph& g) {
  if (g.forward_ops) throw Error("vjp: the graph already has backward ops", 1);
  if (g.x_in < 0 || g.out < 0) throw Error("vjp: the graph has no image input or output", 1);
  g.forward_ops = g.ops.size();
  g.cot_in = g.add_value(g.value(g.out).shape, DType::F32, "cotangent", ValueKind::External);
  g.grad_x = g.add_value(g.value(g.x_in).shape, DType::F32, "grad_x", ValueKind::External);
  VjpBuilder b{g, std::vector<int>(g.values.size(), -1), std::vector<bool>(g.values.size(), false)};
  b.from_x[size_t(g.x_in)] = true;
  for (size_t i = 0; i < g.forward_ops; ++i) {
    const Op& op = g.ops[i];
    for (int v : op.inputs)
      if (b.from_x[size_t(v)]) b.from_x[size_t(op.output)] = true;
  }
  if (!b.from_x[size_t(g.out)]) throw Error("vjp: the output does not depend on the input", 1);
  b.grad[size_t(g.out)] = g.cot_in;
  for (size_t i = g.forward_ops; i-- > 0;) {
    const Op op = g.ops[i];  // a copy: add_op may reallocate g.ops
    if (!b.from_x[size_t(op.output)] || b.grad[size_t(op.output)] < 0) continue;
    b.backward(op);
  }
  if (b.grad[size_t(g.x_in)] != g.grad_x) throw Error("vjp: no gradient reaches the input", 1);
}

}  // namespace reddiff
