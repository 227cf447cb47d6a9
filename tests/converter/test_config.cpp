// Presets, config inference from shapes, config resolution (preset / inference / --set / --flags), SHA-256.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "weights_converter/config_inference.h"
#include "weights_converter/convert.h"
#include "weights_converter/presets.h"
#include "weights_converter/sha256.h"

using namespace reddiff;

namespace {

ShapeMap shapes_of(const AdmConfig& c) {
  ShapeMap m;
  for (const auto& t : expected_tensors(c)) m[t.name] = t.shape;
  return m;
}

uint64_t params_of(const AdmConfig& c) {
  uint64_t n = 0;
  for (const auto& t : expected_tensors(c)) {
    uint64_t k = 1;
    for (auto d : t.shape) k *= uint64_t(d);
    n += k;
  }
  return n;
}

}  // namespace

TEST_CASE("presets reproduce the released checkpoints' tensor tables", "[presets]") {
  struct Row {
    const char* preset;
    size_t tensors;
    uint64_t params;
    double gflop;
  };
  // adm-unet.md section 7.1 (counts verified against torch there; FLOPs at the native size).
  const Row rows[] = {
      {"64x64_diffusion", 541, 295904454, 219.36},    {"128x128_diffusion", 493, 421529606, 613.86},
      {"256x256_diffusion", 567, 553838086, 2239.67}, {"256x256_diffusion_uncond", 566, 552814086, 2239.67},
      {"512x512_diffusion", 645, 558997638, 3964.67}, {"ffhq_10m", 362, 93563910, 387.93},
      {"lsun_bedroom", 566, 552814086, 2239.67},      {"dps_imagenet256", 566, 552814086, 2239.67}};
  for (const auto& r : rows) {
    INFO(r.preset);
    const Preset* p = find_preset(r.preset);
    REQUIRE(p != nullptr);
    ModelConfig c = p->config();
    REQUIRE_NOTHROW(c.adm.validate());
    CHECK(expected_tensors(c.adm).size() == r.tensors);
    CHECK(params_of(c.adm) == r.params);
    CHECK(std::fabs(forward_flops(c.adm, c.adm.image_size, c.adm.image_size) / 1e9 - r.gflop) < 0.01);
  }
}

TEST_CASE("presets carry the settings the weights cannot tell", "[presets]") {
  ModelConfig a = find_preset("64x64_diffusion")->config();
  CHECK(a.adm.use_new_attention_order);
  CHECK(a.schedule.kind == "cosine");
  CHECK(a.adm.num_head_channels == 64);
  CHECK(a.adm.num_classes == 1000);
  CHECK(a.adm.attention_resolutions == std::vector<int>{32, 16, 8});
  CHECK(a.adm.channel_mult == std::vector<double>{1, 2, 3, 4});
  ModelConfig b = find_preset("128x128_diffusion")->config();
  CHECK(b.adm.num_head_channels == -1);
  CHECK(b.adm.num_heads == 4);
  CHECK(b.schedule.kind == "linear");
  ModelConfig c = find_preset("512x512_diffusion")->config();
  CHECK(c.adm.channel_mult == std::vector<double>{0.5, 1, 1, 2, 2, 4, 4});
  CHECK_FALSE(c.adm.use_fp16);
  ModelConfig d = find_preset("ffhq_10m")->config();
  CHECK(d.adm.num_res_blocks == 1);
  CHECK(d.adm.attention_resolutions == std::vector<int>{16});
  CHECK(d.adm.learn_sigma);
  CHECK(d.adm.out_channels == 6);
  CHECK(find_preset("256x256_diffusion_uncond.pt") == find_preset("256x256_diffusion_uncond"));
  CHECK(find_preset("imagenet256") == find_preset("dps_imagenet256"));
  CHECK(find_preset("nope") == nullptr);
}

TEST_CASE("shape inference recovers every inferable setting of every preset", "[inference]") {
  for (const auto& p : presets()) {
    INFO(p.name);
    AdmConfig want = p.config().adm;
    InferredConfig got = infer_adm_config(shapes_of(want));
    CHECK(got.cfg.model_channels == want.model_channels);
    CHECK(got.cfg.channel_mult == want.channel_mult);
    CHECK(got.cfg.num_res_blocks == want.num_res_blocks);
    CHECK(got.cfg.num_classes == want.num_classes);
    CHECK(got.cfg.learn_sigma == want.learn_sigma);
    CHECK(got.cfg.out_channels == want.out_channels);
    CHECK(got.cfg.use_scale_shift_norm == want.use_scale_shift_norm);
    CHECK(got.cfg.resblock_updown == want.resblock_updown);
    CHECK(attention_resolutions_for(want.image_size, got.attention_ds) == want.attention_resolutions);
  }
}

TEST_CASE("shape inference on unusual configurations", "[inference]") {
  AdmConfig c;
  c.image_size = 32;
  c.model_channels = 64;
  c.channel_mult = {0.5, 1, 1};
  c.num_res_blocks = 3;
  c.attention_resolutions = {8, 32};
  c.use_scale_shift_norm = false;
  c.resblock_updown = false;
  c.conv_resample = true;
  c.learn_sigma = false;
  c.out_channels = 3;
  c.num_classes = 7;
  for (int variant = 0; variant < 3; ++variant) {
    if (variant == 1) c.conv_resample = false;  // parameter-free resamplers: found from key gaps
    if (variant == 2) c.channel_mult = {1};     // a single level
    INFO("variant " << variant);
    InferredConfig got = infer_adm_config(shapes_of(c));
    AdmConfig r = c;
    r.attention_resolutions = attention_resolutions_for(c.image_size, got.attention_ds);
    CHECK(got.cfg.channel_mult == c.channel_mult);
    CHECK(got.cfg.num_res_blocks == 3);
    CHECK(got.cfg.num_classes == 7);
    CHECK_FALSE(got.cfg.use_scale_shift_norm);
    CHECK_FALSE(got.cfg.learn_sigma);
    if (variant < 2) CHECK(got.cfg.conv_resample == c.conv_resample);
    AdmConfig back = got.cfg;
    back.image_size = c.image_size;
    back.attention_resolutions = r.attention_resolutions;
    CHECK(compare_with_config(shapes_of(c), back).empty());
  }
  ShapeMap ddpm{{"temb.dense.0.weight", {512, 128}}, {"conv_in.weight", {128, 3, 3, 3}}};
  CHECK_THROWS_WITH(infer_adm_config(ddpm), Catch::Contains("DDPM"));
  CHECK_THROWS_WITH(infer_adm_config(ShapeMap{{"foo", {1}}}), Catch::Contains("time_embed.0.weight"));
}

TEST_CASE("the shapes of each released checkpoint pick its preset", "[presets]") {
  auto pick = [](const char* preset, const std::string& file) {
    ShapeMap s = shapes_of(find_preset(preset)->config().adm);
    return resolve_config(s, file, {}, "", "", {});
  };
  CHECK(pick("64x64_diffusion", "x.pt").preset == "64x64_diffusion");
  CHECK(pick("128x128_diffusion", "x.pt").preset == "128x128_diffusion");
  CHECK(pick("256x256_diffusion", "x.pt").preset == "256x256_diffusion");
  CHECK(pick("512x512_diffusion", "x.pt").preset == "512x512_diffusion");
  CHECK(pick("ffhq_10m", "x.pt").preset == "ffhq_10m");
  // Unconditional 256 shapes fit several presets that build the same network: the first, unless the file
  // name says which.
  ResolvedConfig u = pick("256x256_diffusion_uncond", "model.pt");
  CHECK(u.preset == "256x256_diffusion_uncond");
  CHECK(u.origin.find("lsun_cat") != std::string::npos);
  CHECK(pick("256x256_diffusion_uncond", "lsun_cat.pt").preset == "lsun_cat");
  CHECK(pick("256x256_diffusion_uncond", "imagenet256.pt").preset == "dps_imagenet256");
  // Every preset is reachable, and presets with equal tables build equal networks.
  for (const auto& p : presets()) {
    auto m = matching_presets(shapes_of(p.config().adm));
    REQUIRE_FALSE(m.empty());
    for (const Preset* q : m) CHECK(same_network(q->config(), p.config()));
  }
}

TEST_CASE("config resolution: --preset, --set, --flags and validation", "[resolve]") {
  ShapeMap uncond = shapes_of(find_preset("256x256_diffusion_uncond")->config().adm);
  // Overrides on top of an automatically picked preset.
  ResolvedConfig r = resolve_config(uncond, "m.pt", {}, "", "", {"num_head_channels=32", "noise_schedule=cosine"});
  CHECK(r.config.adm.num_head_channels == 32);
  CHECK(r.config.schedule.kind == "cosine");
  r = resolve_config(uncond, "m.pt", {}, "",
                     "--num_heads 2 --num_head_channels -1 --diffusion_steps 4000 --batch_size 4", {});
  CHECK(r.config.adm.num_heads == 2);
  CHECK(r.config.adm.num_head_channels == -1);
  CHECK(r.config.schedule.num_timesteps == 4000);
  // Wrong preset for the shapes: every difference listed on one line.
  try {
    resolve_config(uncond, "m.pt", {}, "ffhq_10m", "", {});
    FAIL("expected a mismatch");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK(m.find("preset ffhq_10m") != std::string::npos);
    CHECK(m.find("missing") != std::string::npos);
    CHECK(m.find("unexpected") != std::string::npos);
    CHECK(m.find("misshaped") != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
  }
  // An inferable setting contradicted by --set.
  CHECK_THROWS_WITH(resolve_config(uncond, "m.pt", {}, "", "", {"num_res_blocks=3"}), Catch::Contains("missing"));
  CHECK_THROWS_WITH(resolve_config(uncond, "m.pt", {}, "nope", "", {}), Catch::Contains("unknown preset"));
  CHECK_THROWS_WITH(resolve_config(uncond, "m.pt", {}, "", "", {"bogus=1"}), Catch::Contains("unknown setting"));
  CHECK_THROWS_WITH(resolve_config(uncond, "m.pt", {}, "", "", {"image_size"}), Catch::Contains("key=value"));
  CHECK_THROWS_WITH(resolve_config(uncond, "m.pt", {}, "", "--bogus 1", {}), Catch::Contains("unknown flag"));
  CHECK_THROWS_WITH(resolve_config(uncond, "m.pt", {}, "", "--image_size", {}), Catch::Contains("no value"));
  CHECK_THROWS_WITH(resolve_config(uncond, "m.pt", {}, "", "", {"learn_sigma=maybe"}),
                    Catch::Contains("true or false"));

  // A configuration no preset has: the head split and image size must be given.
  AdmConfig small;
  small.image_size = 32;
  small.model_channels = 32;
  small.channel_mult = {1, 2};
  small.num_res_blocks = 1;
  small.attention_resolutions = {16};
  ShapeMap s = shapes_of(small);
  CHECK_THROWS_WITH(resolve_config(s, "m.pt", {}, "", "", {}), Catch::Contains("image_size"));
  CHECK_THROWS_WITH(resolve_config(s, "m.pt", {}, "", "", {"image_size=32"}), Catch::Contains("head"));
  r = resolve_config(s, "m.pt", {}, "", "--image_size 32 --num_head_channels 16", {});
  CHECK(r.preset.empty());
  CHECK(r.config.adm.attention_resolutions == std::vector<int>{16});
  CHECK(r.config.adm.num_head_channels == 16);
  r = resolve_config(s, "m.pt", {}, "", "", {"image_size=64", "num_heads=2"});
  CHECK(r.config.adm.attention_resolutions == std::vector<int>{32});  // same downsample factor at 64 px
  CHECK_THROWS_WITH(resolve_config(s, "m.pt", {}, "", "", {"image_size=33", "num_heads=2"}),
                    Catch::Contains("multiple"));
  // A reddiff model file's own metadata.
  std::map<std::string, std::string> md{
      {"format", "reddiff"}, {"config", to_json(r.config.adm).dump()}, {"schedule", to_json(r.config.schedule).dump()}};
  ResolvedConfig m = resolve_config(s, "m.safetensors", md, "", "", {});
  CHECK(m.config.adm.attention_resolutions == std::vector<int>{32});
  CHECK(m.origin.find("metadata") != std::string::npos);
}

TEST_CASE("guided-diffusion flag strings", "[flags]") {
  ModelConfig c = guided_diffusion_defaults();
  std::set<std::string> given;
  apply_flags(c,
              "--image_size=128 --class_cond True --learn_sigma True --channel_mult '' --attention_resolutions 32,16 "
              "--num_samples 10 --use_ddim False",
              &given);
  CHECK(c.adm.image_size == 128);
  CHECK(c.adm.num_classes == 1000);
  CHECK(c.adm.out_channels == 6);
  CHECK(c.adm.attention_resolutions == std::vector<int>{32, 16});
  CHECK(c.adm.channel_mult.empty());
  CHECK(given.count("image_size"));
  CHECK_FALSE(given.count("num_samples"));
  CHECK(default_channel_mult(128) == std::vector<double>{1, 1, 2, 3, 4});
  CHECK_THROWS_AS(default_channel_mult(100), Error);
  CHECK_THROWS_AS(apply_flags(c, "image_size 3"), Error);
}

TEST_CASE("sha256 test vectors", "[sha256]") {
  auto hex = [](const std::string& s, size_t chunk) {
    Sha256 h;
    for (size_t k = 0; k < s.size(); k += chunk) h.update(s.data() + k, std::min(chunk, s.size() - k));
    return h.hex_digest();
  };
  CHECK(hex("", 1) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex("abc", 1) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(hex(two, 7) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex(two, 64) == hex(two, 1));
  std::string million(1000000, 'a');
  CHECK(hex(million, 4096) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
