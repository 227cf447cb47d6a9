#include "engine/graph.h"

namespace reddiff {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::InputPad:
      return "input_pad";
    case OpKind::OutputCrop:
      return "output_crop";
    case OpKind::TimestepEmbed:
      return "timestep_embed";
    case OpKind::LabelEmbedAdd:
      return "label_embed_add";
    case OpKind::Linear:
      return "linear";
    case OpKind::Conv2d:
      return "conv2d";
    case OpKind::GroupNorm:
      return "group_norm";
    case OpKind::Attention:
      return "attention";
    case OpKind::AvgPool2:
      return "avg_pool2";
    case OpKind::Upsample2:
      return "upsample2";
    case OpKind::Concat:
      return "concat";
    case OpKind::Conv2dBackwardData:
      return "conv2d_backward_data";
    case OpKind::GroupNormBackward:
      return "group_norm_backward";
    case OpKind::AttentionBackward:
      return "attention_backward";
    case OpKind::AvgPool2Backward:
      return "avg_pool2_backward";
    case OpKind::Upsample2Backward:
      return "upsample2_backward";
    case OpKind::ChannelSlice:
      return "channel_slice";
    case OpKind::GradAdd:
      return "grad_add";
    case OpKind::InputPadBackward:
      return "input_pad_backward";
    case OpKind::OutputCropBackward:
      return "output_crop_backward";
  }
  return "?";
}

size_t Value::bytes() const {
  size_t n = dtype_size(dtype);
  for (auto d : shape) n *= size_t(d);
  return n;
}

int Graph::add_value(std::vector<int64_t> shape, DType dtype, const std::string& name, ValueKind kind) {
  Value v;
  v.shape = std::move(shape);
  v.dtype = dtype;
  v.kind = kind;
  v.name = name;
  values.push_back(std::move(v));
  return int(values.size()) - 1;
}

Op& Graph::add_op(OpKind kind, std::vector<int> inputs, int output, const std::string& name) {
  Op op;
  op.kind = kind;
  op.inputs = std::move(inputs);
  op.output = output;
  op.name = name;
  ops.push_back(std::move(op));
  return ops.back();
}

}  // namespace reddiff
