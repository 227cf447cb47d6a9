// The degradation operators' command-line options (cxxopts): registered once, read into an
// OperatorOptions (operators/operator.h) and validated there; shared by `reddiff degrade` and the
// restoration commands. Also the numeric option readers every command uses.
#pragma once
#include <cxxopts.hpp>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "operators/operator.h"

namespace reddiff {

// Registers the operator options (group "Degradation"): --mask --box-size --fraction --side --invert
// --random-position --scale --sr-kernel --blur --blur-sigma --blur-size --motion-intensity --wiener-reg
// --oversample --data-term --bits --quality --subsampling --sigma-y --noise-std --noise --seed --compose.
void add_operator_options(cxxopts::Options& opts);
// Reads and validates them for `task`; a bad value is a one-line reddiff::Error naming the option. Options
// given on the command line that the task does not use earn a note on stderr.
OperatorOptions operator_options_from(const cxxopts::ParseResult& r, const std::string& task);
// The options as reports record them (reddiff TASK --json: "operator").
nlohmann::json operator_options_json(const OperatorOptions& o);
// A numeric option given as a string, so that a bad value is a one-line error naming the option
// ("--lr: 'abc' is not a number"). Shared by every command that takes numbers this way.
double option_number(const cxxopts::ParseResult& r, const char* name);
uint64_t option_unsigned(const cxxopts::ParseResult& r, const char* name);
// An integer option in [lo, hi] ("--steps must be between 1 and 100000, got 0").
int64_t option_integer(const cxxopts::ParseResult& r, const char* name, int64_t lo, int64_t hi);

}  // namespace reddiff
