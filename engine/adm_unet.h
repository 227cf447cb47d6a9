// guided-diffusion's UNetModel (ADM) as a Graph: the one place that knows the architecture's
// topology. Mirrors openai/guided-diffusion unet.py for every option of AdmConfig.
#pragma once
#include "engine/graph.h"
#include "engine/model.h"

namespace reddiff {

// n images of h x w (any size: reflect-padded at the bottom/right to hp x wp, multiples of
// 2^(levels-1), and cropped back). act: the torso's activation dtype (f32, or f16/bf16 as in
// guided-diffusion's use_fp16: time embedding, GroupNorm statistics, softmax and the output head stay f32).
//
// fuse_embedding: every ResBlock's time-embedding linear (emb_layers.1: silu, then a [2C or C, E] matrix) runs
// as one Linear over their stacked weights (Graph::derived) instead of one per block, and each block's
// GroupNorm reads its columns of that output (Op::mod_offset). Same arithmetic per output element.
Graph build_adm_graph(const AdmConfig& c, const ModelWeights& w, int n, int h, int w_, DType act,
                      bool fuse_embedding = false);

// The padded size the network runs at for an h x w input.
void adm_padded_size(const AdmConfig& c, int h, int w, int* hp, int* wp);

}  // namespace reddiff
