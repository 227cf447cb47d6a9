#include "engine/model.h"

#include <cmath>

#include "base/error.h"
#include "engine/safetensors.h"

namespace reddiff {

const Param* ModelWeights::find(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? nullptr : &it->second;
}

const Param& ModelWeights::get(const std::string& name) const {
  auto p = find(name);
  if (!p) throw Error("model has no tensor '" + name + "'");
  return *p;
}

int64_t ModelWeights::parameter_count() const {
  int64_t n = 0;
  for (const auto& kv : params) n += kv.second.numel();
  return n;
}

std::string check_tensor_table(const std::vector<TensorSpec>& expected,
                               const std::map<std::string, std::vector<int64_t>>& found) {
  std::vector<std::string> missing, unexpected, misshaped;
  std::map<std::string, const TensorSpec*> exp;
  for (const auto& e : expected) exp[e.name] = &e;
  for (const auto& e : expected) {
    auto it = found.find(e.name);
    if (it == found.end())
      missing.push_back(e.name);
    else if (it->second != e.shape)
      misshaped.push_back(e.name + " " + shape_string(it->second) + " (expected " + shape_string(e.shape) + ")");
  }
  for (const auto& f : found)
    if (!exp.count(f.first)) unexpected.push_back(f.first);
  auto list = [](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return std::string();
    std::string s = std::string(what) + " (" + std::to_string(v.size()) + "): ";
    for (size_t i = 0; i < v.size() && i < 4; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > 4) s += ", ...";
    return s;
  };
  std::string r;
  for (auto part : {list("missing", missing), list("unexpected", unexpected), list("misshaped", misshaped)})
    if (!part.empty()) r += (r.empty() ? "" : "; ") + part;
  return r;
}

std::unique_ptr<Model> Model::load(const std::string& path) {
  auto f = SafeTensorsFile::open(path);
  auto m = std::make_unique<Model>();
  m->path = path;
  m->metadata = f->metadata();
  m->file_bytes = f->file_size();
  auto meta = [&](const char* key) -> const std::string& {
    auto it = m->metadata.find(key);
    if (it == m->metadata.end())
      throw Error(path + ": not a reddiff model file (no '" + key +
                  "' in its metadata; convert checkpoints with reddiff convert)");
    return it->second;
  };
  if (meta("format") != "reddiff")
    throw Error(path + ": not a reddiff model file (format is '" + meta("format") + "')");
  if (meta("format_version") != "1")
    throw Error(path + ": model format version " + meta("format_version") + " is not supported by this reddiff (1)");
  m->config.arch = meta("arch");
  if (m->config.arch != "adm") throw Error(path + ": architecture '" + m->config.arch + "' is not supported (adm)");
  try {
    m->config.adm = adm_config_from_json(nlohmann::json::parse(meta("config")));
    m->config.schedule = schedule_from_json(nlohmann::json::parse(meta("schedule")));
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": model metadata is not valid JSON");
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  try {
    m->config.adm.validate();
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  std::map<std::string, std::vector<int64_t>> found;
  for (const auto& t : f->tensors()) found[t.name] = t.shape;
  std::string report = check_tensor_table(expected_tensors(m->config.adm), found);
  if (!report.empty()) throw Error(path + ": tensors do not match the declared architecture: " + report);
  bool first = true;
  for (const auto& t : f->tensors()) {
    if (first) m->file_dtype = t.dtype, first = false;
    Param p;
    p.name = t.name;
    p.shape = t.shape;
    p.data.resize(size_t(t.numel()));
    convert_elements(f->data(t), t.dtype, p.data.data(), DType::F32, p.data.size());
    for (float v : p.data)
      if (!std::isfinite(v)) throw Error(path + ": tensor '" + t.name + "' holds NaN or infinite values");
    m->weights.params.emplace(t.name, std::move(p));
  }
  return m;
}

namespace {
uint64_t mix64(uint64_t z) {  // splitmix64's finaliser: a counter-based hash
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

// Matrices and filters N(0, 1/fan_in), GroupNorm gains (the 1-D ".weight" tensors) 1 + N(0, 0.05^2), biases
// N(0, 0.05^2). Each deviate is an Irwin-Hall sum of four 16-bit uniforms from a counter-based hash of
// (seed, tensor, element), so the 553 M parameters of ImageNet-256 are drawn in parallel.
std::unique_ptr<Model> Model::random(const ModelConfig& config, uint64_t seed) {
  config.adm.validate();
  auto m = std::make_unique<Model>();
  m->path = "(random weights)";
  m->config = config;
  uint64_t index = 0;
  for (const auto& spec : expected_tensors(config.adm)) {
    Param p;
    p.name = spec.name;
    p.shape = spec.shape;
    int64_t n = 1, fan_in = 1;
    for (auto d : spec.shape) n *= d;
    for (size_t i = 1; i < spec.shape.size(); ++i) fan_in *= spec.shape[i];
    p.data.resize(size_t(n));
    bool gain =
        spec.shape.size() == 1 && spec.name.size() > 7 && spec.name.compare(spec.name.size() - 7, 7, ".weight") == 0;
    float scale = spec.shape.size() > 1 ? 1.0f / std::sqrt(float(fan_in)) : 0.05f, offset = gain ? 1.0f : 0.0f;
    uint64_t key = mix64(seed ^ (++index << 40));
    float* d = p.data.data();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      uint64_t h = mix64(key + uint64_t(i));
      float u = float(h & 0xffff) + float((h >> 16) & 0xffff) + float((h >> 32) & 0xffff) + float(h >> 48);
      d[i] = offset + scale * (u * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;  // mean 0, variance 1
    }
    m->weights.params.emplace(spec.name, std::move(p));
  }
  return m;
}

bool named_architecture(const std::string& name, ModelConfig* out) {
  ModelConfig c;
  c.arch = "adm";
  AdmConfig& a = c.adm;
  if (name == "imagenet256-uncond" || name == "imagenet256") {
    a.image_size = 256;
    a.model_channels = 256;
    a.channel_mult = {1, 1, 2, 2, 4, 4};
    a.num_res_blocks = 2;
    a.attention_resolutions = {32, 16, 8};
    a.num_head_channels = 64;
    a.learn_sigma = true;
    a.out_channels = 6;
    a.use_fp16 = true;
    if (name == "imagenet256") a.num_classes = 1000;
  } else if (name == "ffhq256") {
    a.image_size = 256;
    a.model_channels = 128;
    a.channel_mult = {1, 1, 2, 2, 4, 4};
    a.num_res_blocks = 1;
    a.attention_resolutions = {16};
    a.num_heads = 4;
    a.num_head_channels = 64;
    a.learn_sigma = true;
    a.out_channels = 6;
  } else {
    return false;
  }
  *out = c;
  return true;
}

std::vector<std::string> named_architectures() { return {"imagenet256-uncond", "imagenet256", "ffhq256"}; }

}  // namespace reddiff
