// What `reddiff --version` prints: the version, the commit it was built from, the compiled backends, the
// CPU and its kernel set, and the CUDA driver/runtime/cuDNN found at run time.
#pragma once
#include <string>

namespace reddiff {

// The git commit of the build (`git describe --always --dirty`), or "unknown"; written into a generated
// source file by cmake/version_info.cmake on every build.
const char* build_commit();
// The full --version text, one "key: value" line per item after the first line.
std::string version_text();

}  // namespace reddiff
