// Command-line front ends shared by `reddiff convert` / `reddiff info` (tool/cmd_*.cpp) and the standalone
// `reddiff-convert` (weights_converter/main_convert.cpp). argv[0] is the program name used in messages.
// Both return the exit code and throw reddiff::Error (one line, exit code 2) on bad input.
#pragma once

namespace reddiff {

int convert_main(int argc, char** argv);
int info_main(int argc, char** argv);

}  // namespace reddiff
