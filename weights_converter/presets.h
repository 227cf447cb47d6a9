// Built-in configurations of the released guided-diffusion (ADM) checkpoints, and guided-diffusion's
// command-line flag strings. A preset supplies what the weights cannot tell: the attention head split,
// the attention order, the native image size and the diffusion schedule. Each preset is written as the
// flag string its repository documents, parsed over guided-diffusion's own defaults.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "engine/model_config.h"
#include "weights_converter/config_inference.h"

namespace reddiff {

struct Preset {
  std::string name;                // what --preset takes
  std::string repository;          // where the checkpoint is published
  std::vector<std::string> files;  // the released file name(s) it fits
  std::string description;
  std::string flags;  // guided-diffusion MODEL_FLAGS + DIFFUSION_FLAGS, as the repository gives them
  ModelConfig config() const;
};

const std::vector<Preset>& presets();
// By name, by released file name ("256x256_diffusion_uncond.pt") or by its stem; nullptr when unknown.
const Preset* find_preset(const std::string& name);
std::string preset_names();  // "64x64_diffusion, 128x128_diffusion, ..." for messages

// guided-diffusion's script_util.model_and_diffusion_defaults(), channel_mult left empty.
ModelConfig guided_diffusion_defaults();
// guided-diffusion's channel_mult for an image size when the flag is left empty (512/256/128/64).
std::vector<double> default_channel_mult(int image_size);

// Applies a flag string as guided-diffusion's README prints it ("--image_size 256 --num_channels 256 ...",
// "--key=value" also accepted). Training and sampling flags are accepted and ignored; unknown flags and
// bad values throw reddiff::Error. An empty --channel_mult keeps the current value. The names of the
// flags that were set are added to `given` (when not null).
void apply_flags(ModelConfig& c, const std::string& flags, std::set<std::string>* given = nullptr);

// Every preset whose tensor table is exactly `shapes`.
std::vector<const Preset*> matching_presets(const ShapeMap& shapes);

// True when two configurations build the same network with the same numerics and schedule
// (dropout and the informative use_fp16 are ignored).
bool same_network(const ModelConfig& a, const ModelConfig& b);

}  // namespace reddiff
