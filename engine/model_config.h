// Model configurations: the guided-diffusion (ADM) UNetModel hyper-parameters, the diffusion schedule,
// and the tensor table an architecture expects. Shared by the converter (validation, metadata) and the
// engine (graph building). Field names follow guided-diffusion's own flag names.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reddiff {

struct AdmConfig {
  int image_size = 256;  // native resolution (attention_resolutions are relative to it)
  int in_channels = 3;
  int model_channels = 128;
  int out_channels = 3;  // 6 when learn_sigma
  int num_res_blocks = 2;
  std::vector<int> attention_resolutions;  // pixel sizes, as the user-facing flag ("32,16,8")
  std::vector<double> channel_mult{1, 1, 2, 2, 4, 4};
  int num_classes = 0;  // 0: unconditional
  int num_heads = 4;
  int num_head_channels = -1;   // != -1 overrides num_heads
  int num_heads_upsample = -1;  // -1: same as num_heads
  bool use_scale_shift_norm = true;
  bool resblock_updown = true;
  bool conv_resample = true;
  bool use_new_attention_order = false;
  bool learn_sigma = true;
  bool use_fp16 = false;  // the reference precision of the released model (informative)
  double dropout = 0.0;   // training only

  // Derived.
  std::vector<int> attention_ds() const;  // image_size / res for each attention resolution
  int level_channels(int level) const { return int(channel_mult[size_t(level)] * model_channels); }
  int levels() const { return int(channel_mult.size()); }
  int time_embed_dim() const { return 4 * model_channels; }
  int heads_for(int channels, bool upsample) const;
  int size_multiple() const { return 1 << (levels() - 1); }  // H and W must be multiples of this
  void validate() const;                                     // throws reddiff::Error on an impossible configuration
};

struct Schedule {
  std::string kind = "linear";  // "linear" (beta 1e-4..0.02 scaled to T) or "cosine"
  int num_timesteps = 1000;
  std::vector<double> betas() const;
  std::vector<double> alphas_cumprod() const;
};

struct ModelConfig {
  std::string arch = "adm";  // "adm"; "ddpm" is reserved for DDRM/SDEdit's Model
  AdmConfig adm;
  Schedule schedule;
};

nlohmann::json to_json(const AdmConfig& c);
AdmConfig adm_config_from_json(const nlohmann::json& j);  // unknown keys are an error
nlohmann::json to_json(const Schedule& s);
Schedule schedule_from_json(const nlohmann::json& j);

// Sets one guided-diffusion flag by name ("num_head_channels", "attention_resolutions", "learn_sigma",
// "noise_schedule", "diffusion_steps", ...). Returns false when the name is unknown; throws on a bad value.
bool set_flag(ModelConfig& c, const std::string& key, const std::string& value);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor the architecture has, in guided-diffusion's module registration order.
std::vector<TensorSpec> expected_tensors(const AdmConfig& c);

// Floating-point operations of one forward pass for one image of size h x w (multiply-add = 2):
// convolutions, linear layers and the two attention products.
double forward_flops(const AdmConfig& c, int h, int w);

std::string shape_string(const std::vector<int64_t>& s);

}  // namespace reddiff
