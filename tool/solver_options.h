// The solver options of the restoration commands, from one table (solver_options.cpp): each option's name,
// the algorithms that read it, what it means to each, where it goes in SolverSettings, and its default from
// the task's preset. --help, reading the options with their per-algorithm checks, and the presets that --help
// and --json show all come from that table; so do the "Algorithms (--algo)" texts of --help.
#pragma once
#include <cxxopts.hpp>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "solvers/factory.h"
#include "solvers/solver.h"
#include "tool/tasks.h"

namespace reddiff {

// Registers --algo and the solver options (group "Solver"; --class in "Model and device"), with the task's
// defaults in their help.
void add_solver_options(cxxopts::Options& opts, const TaskSpec& task);

struct SolverChoice {
  Algorithm algo = Algorithm::RedDiff;
  SolverSettings settings;  // the task's preset with the options given; the chosen algorithm's are checked
};
// --algo and the options given, over the task's preset; `seed` seeds the solver. A one-line reddiff::Error for
// an unknown --algo, an option the algorithm does not read ("--lr is a RED-diff option; --algo dps does not use
// it") or a bad value.
SolverChoice solver_choice_from(const cxxopts::ParseResult& r, const TaskSpec& task, uint64_t seed);

// The preset of algorithm `a` for the task as --help shows it: "100 steps, lr 0.5, lambda 0.1, weighting linear".
std::string preset_line(const TaskSpec& task, Algorithm a);
// The same as JSON, {"steps": 100, "lr": 0.5, ..., "source": "..."}, for --json.
nlohmann::json preset_json(const TaskSpec& task, Algorithm a);
// The "Algorithms (--algo):" section of --help: every algorithm, its preset for the task or why it does not
// apply, and which options are whose.
std::string algorithms_help(const TaskSpec& task);

}  // namespace reddiff
