// ModelSettings: the model and device options shared by every command that runs the network.
#include "tool/model_settings.h"

#include "base/error.h"
#include "tool/cli_common.h"
#include "tool/operator_options.h"

namespace reddiff {
void ModelSettings::declare(cxxopts::Options& opts, const std::string& group, Precisions form) {
  const bool list = form == Precisions::List;
  opts.add_options(group)(
      "model", "model file (.safetensors from reddiff convert); default: $REDDIFF_MODEL, else the bundled model",
      cxxopts::value<std::string>(), "FILE")("device", "auto|cpu|cuda (auto: CUDA when a GPU is usable)",
                                             cxxopts::value<std::string>()->default_value("auto"), "D")(
      "precision",
      list ? "comma list of f32, f16, bf16 (default: f32,f16 on cuda, f32 on cpu)"
           : "network precision f32|f16|bf16 (f16: cuda; bf16: cuda, or a CPU with AVX512-BF16 or AMX)",
      list ? cxxopts::value<std::string>() : cxxopts::value<std::string>()->default_value("f32"),
      "P")("threads", "CPU threads (0: all cores)", cxxopts::value<std::string>()->default_value("0"), "N");
}

ModelSettings ModelSettings::from(const cxxopts::ParseResult& r, Precisions form) {
  ModelSettings s;
  if (r.count("model")) s.model = r["model"].as<std::string>();
  s.device = r["device"].as<std::string>();
  if (s.device != "auto" && s.device != "cpu" && s.device != "cuda")
    throw Error("--device must be auto, cpu or cuda (got '" + s.device + "')");
  if (form == Precisions::One) {
    s.precisions = {parse_precision(r["precision"].as<std::string>())};
  } else if (r.count("precision")) {
    for (const auto& p : comma_list(r["precision"].as<std::string>())) s.precisions.push_back(parse_precision(p));
    if (s.precisions.empty()) throw Error("--precision is empty");
  }
  s.threads = int(option_integer(r, "threads", 0, 4096));
  return s;
}

std::string ModelSettings::model_path() const {
  if (!model.empty()) return model;
  return existing_default_model();
}

std::string ModelSettings::resolved_device() const {
  if (device == "cuda" && !cuda_available())
    throw Error("--device cuda: no usable CUDA device (or this build has no CUDA support)");
  if (device == "auto") return cuda_available() ? "cuda" : "cpu";
  return device;
}

std::unique_ptr<Backend> ModelSettings::make_backend() const {
  return resolved_device() == "cuda" ? make_cuda_backend(0) : make_cpu_backend(threads);
}

nlohmann::json ModelSettings::to_json() const {
  nlohmann::json p = nlohmann::json::array();
  for (DType t : precisions) p.push_back(dtype_name(t));
  return {{"device", device}, {"precision", precisions.size() == 1 ? p[0] : p}, {"threads", threads}};
}

}  // namespace reddiff
