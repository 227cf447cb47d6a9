// What the tensor table of a guided-diffusion (ADM) state dict decides about the model: model_channels,
// channel_mult, num_res_blocks, attention levels (as downsample factors), scale-shift norm, resblock
// up/down vs conv resampling, in/out channels, learn_sigma and num_classes. What it cannot decide (the
// head split, the attention order, the image size, the diffusion schedule) comes from a preset or the user.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/model_config.h"

namespace reddiff {

using ShapeMap = std::map<std::string, std::vector<int64_t>>;

struct InferredConfig {
  AdmConfig cfg;                  // inferable fields set; attention_resolutions left empty
  std::vector<int> attention_ds;  // downsample factors whose level has attention (1, 2, 4, ...)
};

// Throws reddiff::Error when the names and shapes are not those of an ADM UNet (naming the first
// tensor that does not fit), and for DDPM-style (DDRM/SDEdit) checkpoints, which are not supported yet.
InferredConfig infer_adm_config(const ShapeMap& shapes);

// attention_resolutions (pixel sizes) for an image size: image_size / ds, largest first.
std::vector<int> attention_resolutions_for(int image_size, const std::vector<int>& ds);

// "" when the shapes are exactly expected_tensors(cfg); otherwise one line listing the missing,
// unexpected and misshaped tensors by name.
std::string compare_with_config(const ShapeMap& shapes, const AdmConfig& cfg);

}  // namespace reddiff
