// Sub-command registry of the `reddiff` executable. Each command lives in its own tool/cmd_*.cpp and
// registers itself with a static CommandRegistration; main.cpp only dispatches.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace reddiff {

struct Command {
  std::string name;
  std::string summary;                            // one line for `reddiff --help`
  std::function<int(int argc, char** argv)> run;  // argv[0] is "reddiff <name>"; returns the exit code
  int order;                                      // position in --help
};

std::vector<Command>& command_registry();

struct CommandRegistration {
  CommandRegistration(const std::string& name, const std::string& summary, std::function<int(int, char**)> run,
                      int order = 50) {
    command_registry().push_back({name, summary, std::move(run), order});
  }
};

}  // namespace reddiff
