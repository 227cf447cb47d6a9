// Model files: a well-formed file loads; files whose tensors do not match the declared architecture,
// or that are not reddiff model files, fail with one line naming what mismatched.
#include <catch2/catch.hpp>
#include <cstdio>

#include "base/error.h"
#include "engine/model.h"
#include "engine/safetensors.h"
#include "test_util.h"

using namespace reddiff;

namespace {

AdmConfig small_config() {
  AdmConfig c;
  c.image_size = 32, c.model_channels = 32, c.channel_mult = {1, 2}, c.num_res_blocks = 1;
  c.attention_resolutions = {16}, c.num_head_channels = 16, c.learn_sigma = false, c.out_channels = 3;
  return c;
}

// Writes a model file for config c; edit() may change the tensor table before writing.
std::string write_model(const std::string& name, const AdmConfig& c,
                        std::function<void(std::vector<TensorSpec>&)> edit = nullptr,
                        std::map<std::string, std::string> meta_override = {}) {
  std::string path = reddiff_test::testdata(name);
  auto specs = expected_tensors(c);
  if (edit) edit(specs);
  SafeTensorsWriter w(path);
  Schedule s;
  std::map<std::string, std::string> meta{{"format", "reddiff"},
                                          {"format_version", "1"},
                                          {"arch", "adm"},
                                          {"config", to_json(c).dump()},
                                          {"schedule", to_json(s).dump()}};
  for (auto& kv : meta_override) meta[kv.first] = kv.second;
  for (auto& kv : meta) w.set_metadata(kv.first, kv.second);
  uint32_t seed = 1;
  for (auto& t : specs)
    w.add(t.name, DType::F32, t.shape, [&seed, t](void* dst) {
      int64_t n = 1;
      for (auto d : t.shape) n *= d;
      auto v = reddiff_test::random_normal(size_t(n), seed++);
      std::memcpy(dst, v.data(), v.size() * 4);
    });
  w.finish();
  return path;
}

std::string load_error(const std::string& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a well-formed model file loads with its config", "[engine][model]") {
  auto path = write_model("model_ok.safetensors", small_config());
  auto m = Model::load(path);
  CHECK(m->config.adm.model_channels == 32);
  CHECK(m->weights.parameter_count() > 0);
  CHECK(m->config.schedule.num_timesteps == 1000);
}

TEST_CASE("tensors that do not match the architecture are named", "[engine][model]") {
  auto c = small_config();
  auto missing = write_model("model_missing.safetensors", c, [](auto& s) { s.pop_back(); });
  std::string e = load_error(missing);
  CHECK(e.find("missing") != std::string::npos);
  CHECK(e.find("out.2.bias") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);

  auto extra = write_model("model_extra.safetensors", c, [](auto& s) { s.push_back({"foo.weight", {3}}); });
  e = load_error(extra);
  CHECK(e.find("unexpected") != std::string::npos);
  CHECK(e.find("foo.weight") != std::string::npos);

  auto shaped = write_model("model_shape.safetensors", c, [](auto& s) { s[0].shape[0] += 1; });
  e = load_error(shaped);
  CHECK(e.find("misshaped") != std::string::npos);
  CHECK(e.find("time_embed.0.weight") != std::string::npos);

  // Declaring another architecture than the tensors have (e.g. two res blocks) is caught too.
  auto other = small_config();
  other.num_res_blocks = 2;
  auto wrong = write_model("model_wrong_cfg.safetensors", c, nullptr, {{"config", to_json(other).dump()}});
  CHECK(load_error(wrong).find("do not match the declared architecture") != std::string::npos);
}

TEST_CASE("files that are not reddiff models are refused in one line", "[engine][model]") {
  auto c = small_config();
  CHECK(
      load_error(write_model("model_fmt.safetensors", c, nullptr, {{"format", "other"}})).find("not a reddiff model") !=
      std::string::npos);
  CHECK(load_error(write_model("model_ver.safetensors", c, nullptr, {{"format_version", "9"}})).find("version 9") !=
        std::string::npos);
  CHECK(load_error(reddiff_test::testdata("does_not_exist.safetensors")).find("cannot open") != std::string::npos);
  std::string junk = reddiff_test::testdata("junk.safetensors");
  FILE* f = std::fopen(junk.c_str(), "wb");
  std::fputs("this is not a model", f);
  std::fclose(f);
  CHECK(load_error(junk).find("not a safetensors file") != std::string::npos);
}
