// A model file loaded: its configuration, schedule and parameters (as f32 on the host), validated
// against the architecture's expected tensor table.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "engine/model_config.h"

namespace reddiff {

struct Param {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // f32 copy of the file's tensor (any source dtype)
  int64_t numel() const { return int64_t(data.size()); }
};

struct ModelWeights {
  std::map<std::string, Param> params;
  const Param& get(const std::string& name) const;  // throws reddiff::Error naming the tensor
  const Param* find(const std::string& name) const;
  int64_t parameter_count() const;
};

struct Model {
  std::string path;
  ModelConfig config;
  ModelWeights weights;
  DType file_dtype = DType::F32;
  std::map<std::string, std::string> metadata;
  size_t file_bytes = 0;

  // Reads a reddiff safetensors model file (docs/format.md): metadata, then every tensor checked
  // against expected_tensors(config). Any mismatch is one reddiff::Error listing the tensors by name.
  static std::unique_ptr<Model> load(const std::string& path);
  // A model with random weights for a named architecture (bench, tests): "imagenet256-uncond",
  // "ffhq256", or a config given directly.
  static std::unique_ptr<Model> random(const ModelConfig& config, uint64_t seed);
};

// Compares a tensor table against the architecture: "" when it matches, else a one-line report
// ("missing: a, b; unexpected: c; misshaped: d [2, 3] (expected [3, 3])"), truncated after a few names.
std::string check_tensor_table(const std::vector<TensorSpec>& expected,
                               const std::map<std::string, std::vector<int64_t>>& found);

// Named architectures with their released configurations.
bool named_architecture(const std::string& name, ModelConfig* out);
std::vector<std::string> named_architectures();

}  // namespace reddiff
