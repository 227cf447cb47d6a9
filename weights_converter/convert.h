// The conversion pipeline: checkpoint -> state dict -> model config -> validated, streamed safetensors
// model file; and the description `reddiff info` prints. Both command-line front ends (`reddiff convert`,
// `reddiff info`, `reddiff-convert`) call into this file through weights_converter/cli.h.
#pragma once
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "engine/model_config.h"
#include "weights_converter/checkpoint.h"
#include "weights_converter/config_inference.h"

namespace reddiff {

// Metadata keys of a reddiff model file (docs/format.md).
constexpr const char* kFormatName = "reddiff";
constexpr const char* kFormatVersion = "1";

struct ConvertOptions {
  std::string input, output;
  std::string preset;             // --preset; empty: picked from the shapes
  std::string dtype;              // --dtype f32|f16|bf16; empty: keep each tensor's precision
  std::vector<std::string> sets;  // --set key=value
  std::string flags;              // --flags "MODEL_FLAGS"
  std::string key;                // --key: which state dict inside the checkpoint
  bool progress = true;           // a progress bar when stderr is a terminal and the input is large
};

struct ConvertResult {
  ModelConfig config;
  std::string preset;           // empty when the config was not a preset
  std::string config_origin;    // how the config was decided, one line
  std::string state_dict_note;  // which state dict was used, one line
  std::string dtype;            // "f32", "f16", "bf16", "f64" or "mixed"
  size_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t output_bytes = 0;
  std::string source_sha256;
};

// Converts; informational lines go to `log` (may be null). Throws reddiff::Error with a one-line message
// on bad input (exit code 2). Nothing is left at `output` unless the conversion succeeded.
ConvertResult convert_checkpoint(const ConvertOptions& opts, std::ostream* log);

// The checks convert runs on every tensor it will read: floating point, contiguous, inside its storage,
// storage present in the file. Returns its element type; throws reddiff::Error naming the tensor.
DType check_tensor_readable(Checkpoint& ckpt, const std::string& name, const pickle::TensorRef& t);
// Reads a checked tensor's elements into dst as dst_type (converted from src); refuses NaN and infinity.
void read_tensor(Checkpoint& ckpt, const std::string& name, const pickle::TensorRef& t, DType src, void* dst,
                 DType dst_type);

struct ResolvedConfig {
  ModelConfig config;
  std::string preset;
  std::string origin;
};

// Decides the model config for a state dict with these shapes: --preset, else a reddiff input file's own
// metadata, else the one built-in preset the shapes fit, else inference from the shapes (which then needs
// image_size and the head split from --set/--flags); then --flags and --set on top. Validates the result
// against the shapes and throws reddiff::Error listing missing/unexpected/misshaped tensors.
ResolvedConfig resolve_config(const ShapeMap& shapes, const std::string& source_name,
                              const std::map<std::string, std::string>& source_metadata, const std::string& preset,
                              const std::string& flags, const std::vector<std::string>& sets);

// What `reddiff info MODEL` prints. Throws reddiff::Error when MODEL is not a valid reddiff model file.
std::string describe_model(const std::string& path);

}  // namespace reddiff
