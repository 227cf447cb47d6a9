// Sub-command registry of the `reddiff` executable. Each command lives in its own tool/cmd_*.cpp and
// registers itself with a static CommandRegistration; main.cpp only dispatches.
#pragma once
#include <string>
#include <vector>

namespace reddiff {

struct Command {
  std::string name;
  std::string summary;                 // one line for `reddiff --help`
  int (*run)(int argc, char** argv);   // argv[0] is "reddiff <name>"; returns the exit code
  int order;                           // position in --help
};

std::vector<Command>& command_registry();

struct CommandRegistration {
  CommandRegistration(const std::string& name, const std::string& summary, int (*run)(int, char**), int order = 50) {
    command_registry().push_back({name, summary, run, order});
  }
};

}  // namespace reddiff
