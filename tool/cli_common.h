// Helpers shared by the sub-commands: option parsing that turns cxxopts errors into one-line
// reddiff::Errors, the default model, and backend/precision selection.
#pragma once
#include <cxxopts.hpp>
#include <memory>
#include <string>

#include "base/dtype.h"
#include "engine/backend.h"

namespace reddiff {

cxxopts::ParseResult parse_or_throw(cxxopts::Options& opts, int argc, char** argv);
// --model if given, else $REDDIFF_MODEL, else the bundled model.
std::string model_path_option(const cxxopts::ParseResult& r);
std::string default_model_path();
// "auto" picks CUDA when a device is usable, else the CPU.
std::unique_ptr<Backend> make_backend(const std::string& device, int cpu_threads);
DType parse_precision(const std::string& s);

// --max-pixels N in `group`: the largest image (or mask, kernel, .npy measurement) a command reads, checked
// from file headers (engine/input_limits.h). The default is from the available memory at bytes_per_pixel.
void add_max_pixels_option(cxxopts::Options& opts, const std::string& group, int64_t bytes_per_pixel);
// Sets the process-wide limit from --max-pixels, or its default.
void apply_max_pixels(const cxxopts::ParseResult& r, int64_t bytes_per_pixel);

}  // namespace reddiff
