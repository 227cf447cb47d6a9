// reddiff: image restoration with diffusion priors (RED-diff). Dispatches to the registered sub-commands.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "base/error.h"
#include "tool/command.h"
#include "tool/version_info.h"

namespace reddiff {
std::vector<Command>& command_registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace reddiff

static void print_help() {
  auto cmds = reddiff::command_registry();
  std::sort(cmds.begin(), cmds.end(),
            [](const auto& a, const auto& b) { return a.order != b.order ? a.order < b.order : a.name < b.name; });
  std::printf(
      "reddiff %s: restore images by solving inverse problems with a diffusion prior (RED-diff)\n\n"
      "usage: reddiff COMMAND [options] ...\n       reddiff COMMAND --help\n\ncommands:\n",
      REDDIFF_VERSION);
  for (const auto& c : cmds) std::printf("  %-16s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf(
      "\nThe restoration commands (inpaint ... hdr) solve with --algo reddiff (the default), dps (Diffusion\n"
      "Posterior Sampling), pigdm (pseudoinverse-guided diffusion) or ddrm (Denoising Diffusion\n"
      "Restoration Models: the linear tasks with an SVD).\n"
      "Images are read as PNG/JPEG/BMP and written as PNG. See docs/ for details.\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    try {
      std::fputs(reddiff::version_text().c_str(), stdout);
    } catch (const reddiff::Error& e) {  // e.g. REDDIFF_CPU_ISA naming a set this CPU lacks
      std::fprintf(stderr, "reddiff --version: %s\n", e.what());
      return e.exit_code();
    }
    return 0;
  }
  for (const auto& c : reddiff::command_registry()) {
    if (c.name == argv[1]) {
      std::string prog = std::string("reddiff ") + argv[1];
      argv[1] = const_cast<char*>(prog.c_str());
      try {
        return c.run(argc - 1, argv + 1);
      } catch (const reddiff::Error& e) {
        std::fprintf(stderr, "reddiff %s: %s\n", c.name.c_str(), e.what());
        return e.exit_code();
      } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "reddiff %s: out of memory\n", c.name.c_str());
        return 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "reddiff %s: %s\n", c.name.c_str(), e.what());
        return 1;
      }
    }
  }
  std::fprintf(stderr, "reddiff: unknown command '%s' (see reddiff --help)\n", argv[1]);
  return 2;
}
