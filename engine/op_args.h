// Kernel arguments of a graph op, built once for every backend: the tensors' shapes and pointers go
// into the kernel's args struct the same way on the CPU and on CUDA; a backend only supplies its own
// copies of the op's parameters (host or device) and its workspace, then calls its twin.
#pragma once
#include "engine/backend.h"
#include "kernels/network/attention.h"
#include "kernels/network/attention_backward.h"
#include "kernels/network/embedding.h"
#include "kernels/network/group_norm.h"
#include "kernels/network/group_norm_backward.h"
#include "kernels/network/resample.h"
#include "kernels/network/resample_backward.h"

namespace reddiff {

GroupNormArgs group_norm_args(const Op& op, const OpTensors& t, const float* gamma, const float* beta);
AttentionArgs attention_args(const Op& op, const OpTensors& t, void* workspace);
ResampleArgs resample_args(const OpTensors& t);  // AvgPool2 and Upsample2
ConcatArgs concat_args(const OpTensors& t);
InputPadArgs input_pad_args(const Graph& g, const OpTensors& t);
OutputCropArgs output_crop_args(const Graph& g, const OpTensors& t);
TimestepEmbedArgs timestep_embed_args(const OpTensors& t);
// emb (the op's output, already holding its input embedding) += table[labels].
LabelEmbedArgs label_embed_args(const OpTensors& t, const float* table);

// Backward ops of the VJP (engine/vjp_graph.h).
GroupNormBackwardArgs group_norm_backward_args(const Op& op, const OpTensors& t, const float* gamma, const float* beta);
AttentionBackwardArgs attention_backward_args(const Op& op, const OpTensors& t, void* workspace);
ResampleBackwardArgs resample_backward_args(const Op& op, const OpTensors& t);  // AvgPool2Backward, Upsample2Backward
ChannelSliceArgs channel_slice_args(const Op& op, const OpTensors& t);
GradAddArgs grad_add_args(const OpTensors& t);
InputPadBackwardArgs input_pad_backward_args(const Graph& g, const Op& op, const OpTensors& t);
OutputCropBackwardArgs output_crop_backward_args(const Graph& g, const Op& op, const OpTensors& t);

}  // namespace reddiff
