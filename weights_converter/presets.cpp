#include "weights_converter/presets.h"

#include <cctype>
#include <sstream>

#include "base/error.h"

namespace reddiff {

namespace {

const char* kGuided = "openai/guided-diffusion";
const char* kDps = "DPS2022/diffusion-posterior-sampling";

// The flags of guided-diffusion's README for the 256x256 unconditional and LSUN models.
#define ADM256                                                                                                   \
  "--attention_resolutions 32,16,8 --diffusion_steps 1000 --image_size 256 --learn_sigma True "                  \
  "--noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 --resblock_updown True " \
  "--use_scale_shift_norm True"

std::vector<Preset> make_presets() {
  return {
      {"64x64_diffusion",
       kGuided,
       {"64x64_diffusion.pt"},
       "ImageNet 64x64, class-conditional",
       "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --dropout 0.1 --image_size 64 "
       "--learn_sigma True --noise_schedule cosine --num_channels 192 --num_head_channels 64 --num_res_blocks 3 "
       "--resblock_updown True --use_new_attention_order True --use_fp16 True --use_scale_shift_norm True"},
      {"128x128_diffusion",
       kGuided,
       {"128x128_diffusion.pt"},
       "ImageNet 128x128, class-conditional",
       "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 128 --learn_sigma True "
       "--noise_schedule linear --num_channels 256 --num_heads 4 --num_res_blocks 2 --resblock_updown True "
       "--use_fp16 True --use_scale_shift_norm True"},
      {"256x256_diffusion",
       kGuided,
       {"256x256_diffusion.pt"},
       "ImageNet 256x256, class-conditional",
       ADM256 " --class_cond True --use_fp16 True"},
      {"256x256_diffusion_uncond",
       kGuided,
       {"256x256_diffusion_uncond.pt"},
       "ImageNet 256x256, unconditional (RED-diff's default prior)",
       ADM256 " --class_cond False --use_fp16 True"},
      {"512x512_diffusion",
       kGuided,
       {"512x512_diffusion.pt"},
       "ImageNet 512x512, class-conditional",
       "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 512 --learn_sigma True "
       "--noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 --resblock_updown True "
       "--use_fp16 False --use_scale_shift_norm True"},
      {"lsun_bedroom",
       kGuided,
       {"lsun_bedroom.pt"},
       "LSUN bedroom 256x256, unconditional",
       ADM256 " --class_cond False --dropout 0.1 --use_fp16 True"},
      {"lsun_cat",
       kGuided,
       {"lsun_cat.pt"},
       "LSUN cat 256x256, unconditional",
       ADM256 " --class_cond False --dropout 0.1 --use_fp16 True"},
      {"lsun_horse",
       kGuided,
       {"lsun_horse.pt"},
       "LSUN horse 256x256, unconditional",
       ADM256 " --class_cond False --dropout 0.1 --use_fp16 True"},
      {"lsun_horse_nodropout",
       kGuided,
       {"lsun_horse_nodropout.pt"},
       "LSUN horse 256x256, trained without dropout",
       ADM256 " --class_cond False --dropout 0.0 --use_fp16 True"},
      {"ffhq_10m",
       kDps,
       {"ffhq_10m.pt"},
       "FFHQ 256x256, unconditional (DPS configs/model_config.yaml)",
       "--image_size 256 --num_channels 128 --num_res_blocks 1 --channel_mult '' --learn_sigma True --class_cond False "
       "--use_checkpoint False --attention_resolutions 16 --num_heads 4 --num_head_channels 64 --num_heads_upsample -1 "
       "--use_scale_shift_norm True --dropout 0.0 --resblock_updown True --use_fp16 False --use_new_attention_order "
       "False "
       "--noise_schedule linear --diffusion_steps 1000"},
      {"dps_imagenet256",
       kDps,
       {"imagenet256.pt"},
       "ImageNet 256x256, unconditional, as DPS configs/imagenet_model_config.yaml loads it",
       "--image_size 256 --num_channels 256 --num_res_blocks 2 --channel_mult '' --learn_sigma True --class_cond False "
       "--use_checkpoint False --attention_resolutions 32,16,8 --num_heads 4 --num_head_channels 64 "
       "--num_heads_upsample -1 --use_scale_shift_norm True --dropout 0.0 --resblock_updown True --use_fp16 False "
       "--use_new_attention_order False --noise_schedule linear --diffusion_steps 1000"},
  };
}

// Flags of guided-diffusion's training and sampling scripts that do not describe the network.
bool ignored_flag(const std::string& k) {
  static const char* names[] = {"batch_size",
                                "num_samples",
                                "use_ddim",
                                "clip_denoised",
                                "model_path",
                                "classifier_path",
                                "classifier_scale",
                                "classifier_depth",
                                "classifier_width",
                                "classifier_pool",
                                "classifier_use_fp16",
                                "classifier_use_scale_shift_norm",
                                "classifier_resblock_updown",
                                "classifier_attention_resolutions",
                                "lr",
                                "weight_decay",
                                "lr_anneal_steps",
                                "microbatch",
                                "ema_rate",
                                "log_interval",
                                "save_interval",
                                "resume_checkpoint",
                                "fp16_scale_growth",
                                "data_dir",
                                "schedule_sampler",
                                "iterations",
                                "anneal_lr",
                                "eval_interval",
                                "noised",
                                "val_data_dir",
                                "large_size",
                                "small_size",
                                "base_samples"};
  for (const char* n : names)
    if (k == n) return true;
  return false;
}

std::string unquote(std::string v) {
  while (v.size() >= 2 && (v.front() == '\'' || v.front() == '"') && v.back() == v.front())
    v = v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

ModelConfig Preset::config() const {
  ModelConfig c = guided_diffusion_defaults();
  apply_flags(c, flags);
  if (c.adm.channel_mult.empty()) c.adm.channel_mult = default_channel_mult(c.adm.image_size);
  return c;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = make_presets();
  return p;
}

const Preset* find_preset(const std::string& name) {
  for (const auto& p : presets()) {
    if (p.name == name) return &p;
    for (const auto& f : p.files)
      if (f == name || f.substr(0, f.rfind('.')) == name) return &p;
  }
  return nullptr;
}

std::string preset_names() {
  std::string r;
  for (const auto& p : presets()) r += (r.empty() ? "" : ", ") + p.name;
  return r;
}

ModelConfig guided_diffusion_defaults() {
  ModelConfig c;
  c.arch = "adm";
  AdmConfig& a = c.adm;
  a.image_size = 64;
  a.in_channels = 3;
  a.model_channels = 128;
  a.out_channels = 3;
  a.num_res_blocks = 2;
  a.attention_resolutions = {16, 8};
  a.channel_mult.clear();
  a.num_classes = 0;
  a.num_heads = 4;
  a.num_head_channels = -1;
  a.num_heads_upsample = -1;
  a.use_scale_shift_norm = true;
  a.resblock_updown = false;
  a.conv_resample = true;
  a.use_new_attention_order = false;
  a.learn_sigma = false;
  a.use_fp16 = false;
  a.dropout = 0.0;
  c.schedule.kind = "linear";
  c.schedule.num_timesteps = 1000;
  return c;
}

std::vector<double> default_channel_mult(int image_size) {
  switch (image_size) {
    case 512:
      return {0.5, 1, 1, 2, 2, 4, 4};
    case 256:
      return {1, 1, 2, 2, 4, 4};
    case 128:
      return {1, 1, 2, 3, 4};
    case 64:
      return {1, 2, 3, 4};
  }
  throw Error("no default channel_mult for image_size " + std::to_string(image_size) + "; give --channel_mult");
}

void apply_flags(ModelConfig& c, const std::string& flags, std::set<std::string>* given) {
  std::istringstream in(flags);
  std::vector<std::string> tok;
  for (std::string t; in >> t;) tok.push_back(t);
  for (size_t k = 0; k < tok.size(); ++k) {
    const std::string& t = tok[k];
    if (t.size() < 3 || t.compare(0, 2, "--") != 0) throw Error("--flags: expected --name value, got '" + t + "'");
    std::string key = t.substr(2), value;
    size_t eq = key.find('=');
    if (eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else {
      if (k + 1 >= tok.size() || tok[k + 1].compare(0, 2, "--") == 0)
        throw Error("--flags: --" + key + " has no value");
      value = tok[++k];
    }
    value = unquote(value);
    if (ignored_flag(key)) continue;
    if (key == "channel_mult" && value.empty()) continue;  // guided-diffusion: derive from image_size
    if (!set_flag(c, key, value)) throw Error("--flags: unknown flag --" + key);
    if (given) given->insert(key);
  }
}

std::vector<const Preset*> matching_presets(const ShapeMap& shapes) {
  std::vector<const Preset*> r;
  for (const auto& p : presets())
    if (compare_with_config(shapes, p.config().adm).empty()) r.push_back(&p);
  return r;
}

bool same_network(const ModelConfig& a, const ModelConfig& b) {
  auto key = [](const ModelConfig& m) {
    nlohmann::json j = to_json(m.adm);
    j.erase("dropout");
    j.erase("use_fp16");
    return j.dump() + to_json(m.schedule).dump() + m.arch;
  };
  return key(a) == key(b);
}

}  // namespace reddiff
