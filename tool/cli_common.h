// Helpers shared by the sub-commands: option parsing that turns cxxopts errors into one-line
// reddiff::Errors, the default model, and the precision names.
#pragma once
#include <cxxopts.hpp>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace reddiff {

// opts.parse, with a cxxopts error turned into a one-line reddiff::Error ending in "(see `see`)".
cxxopts::ParseResult parse_or_throw(cxxopts::Options& opts, int argc, char** argv, const std::string& see = "--help");
// $REDDIFF_MODEL, else the bundled model (beside an installed reddiff, else in the source tree); it may not
// exist.
std::string default_model_path();
// default_model_path(), or a reddiff::Error when the file is missing ("no --model given and the bundled
// model ... is missing").
std::string existing_default_model();
// "a, b,c" -> {"a", "b", "c"} (spaces dropped, empty items skipped).
std::vector<std::string> comma_list(const std::string& s);
// f32, f16 or bf16; a reddiff::Error naming --precision otherwise.
DType parse_precision(const std::string& s);

// --max-pixels N in `group`: the largest image (or mask, kernel, .npy measurement) a command reads, checked
// from file headers (engine/input_limits.h). The default is from the available memory at bytes_per_pixel.
void add_max_pixels_option(cxxopts::Options& opts, const std::string& group, int64_t bytes_per_pixel);
// Sets the process-wide limit from --max-pixels, or its default.
void apply_max_pixels(const cxxopts::ParseResult& r, int64_t bytes_per_pixel);

}  // namespace reddiff
