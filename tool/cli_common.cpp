#include "tool/cli_common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "base/error.h"
#include "engine/input_limits.h"
#include "tool/operator_options.h"

namespace reddiff {

cxxopts::ParseResult parse_or_throw(cxxopts::Options& opts, int argc, char** argv) {
  try {
    return opts.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    throw Error(std::string(e.what()) + " (see --help)");
  }
}

static bool file_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string default_model_path() {
  const char* env = std::getenv("REDDIFF_MODEL");
  if (env && *env) return env;
  static const std::string file = "/reddiff-default.safetensors";
  // An installed reddiff: the model lies at a fixed place relative to the executable (../share/reddiff/models
  // for bin/reddiff, cmake/packaging.cmake), wherever the prefix was installed or moved to.
  std::string installed;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = 0;
    std::string dir(self);
    dir = dir.substr(0, dir.find_last_of('/'));
    installed = dir + "/" + REDDIFF_INSTALLED_MODEL_DIR + file;
    if (file_exists(installed)) return installed;
  }
  // A reddiff in its build folder: the source tree's models/.
  const std::string source_tree = std::string(REDDIFF_DEFAULT_MODEL_DIR) + file;
  if (file_exists(source_tree) || installed.empty()) return source_tree;
  return installed;  // neither exists: name the installed location in the error
}

std::string model_path_option(const cxxopts::ParseResult& r) {
  if (r.count("model")) return r["model"].as<std::string>();
  std::string p = default_model_path();
  if (!file_exists(p)) throw Error("no --model given and the bundled model " + p + " is missing");
  return p;
}

std::unique_ptr<Backend> make_backend(const std::string& device, int cpu_threads) {
  if (device == "cpu") return make_cpu_backend(cpu_threads);
  if (device == "cuda") {
    if (!cuda_available()) throw Error("--device cuda: no usable CUDA device (or this build has no CUDA support)");
    return make_cuda_backend(0);
  }
  if (device == "auto") return cuda_available() ? make_cuda_backend(0) : make_cpu_backend(cpu_threads);
  throw Error("--device must be auto, cpu or cuda (got '" + device + "')");
}

DType parse_precision(const std::string& s) {
  DType t;
  if (!parse_dtype(s, &t) || t == DType::F64) throw Error("--precision must be f32, f16 or bf16 (got '" + s + "')");
  return t;
}

void add_max_pixels_option(cxxopts::Options& opts, const std::string& group, int64_t bytes_per_pixel) {
  opts.add_options(group)
      ("max-pixels", "refuse images, masks, kernels and .npy arrays of more pixels, from their headers (default: half "
                     "the available memory at " + std::to_string(bytes_per_pixel) + " bytes a pixel; " +
                     std::to_string(default_max_pixels(bytes_per_pixel)) + " here)", cxxopts::value<std::string>(), "N");
}

void apply_max_pixels(const cxxopts::ParseResult& r, int64_t bytes_per_pixel) {
  if (!r.count("max-pixels")) {
    set_max_pixels(default_max_pixels(bytes_per_pixel),
                   "half the available memory at " + std::to_string(bytes_per_pixel) + " bytes a pixel");
    return;
  }
  const uint64_t n = option_unsigned(r, "max-pixels");
  if (n < 1 || n > (uint64_t(1) << 62)) throw Error("--max-pixels must be a positive integer, got " + r["max-pixels"].as<std::string>());
  set_max_pixels(int64_t(n), "--max-pixels");
}

}  // namespace reddiff
