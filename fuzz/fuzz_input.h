// Helpers shared by the libFuzzer targets: the readers under test take file paths, so each input is
// written to one scratch file per process and target (in $FUZZ_TMPDIR, else /dev/shm, else /tmp) and the
// reader is run on it. Everything a reader may throw is reddiff::Error; anything else escapes and crashes
// the target, which libFuzzer then reports.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace reddiff_fuzz {

inline std::string scratch_dir() {
  const char* d = std::getenv("FUZZ_TMPDIR");
  if (d && *d) return d;
  return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

// Writes data to the target's scratch file (name ends in ext) and returns its path.
inline const std::string& write_input(const char* target, const char* ext, const uint8_t* data, size_t size) {
  static std::string path;
  const std::string want = scratch_dir() + "/reddiff-fuzz-" + std::to_string(getpid()) + "-" + target + ext;
  if (path != want) {
    if (!path.empty()) std::remove(path.c_str());
    path = want;
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  if (std::fclose(f) != 0) std::abort();
  return path;
}

// The pixel limit of every target: large enough for the seeds, small enough that a declared size under it
// decodes within libFuzzer's -rss_limit_mb (2 GiB) and its -timeout. At 2^22 an 86-byte BMP declaring
// 2057x1536 pixels (stb_image decodes a truncated BMP as zeros) took 12 s under ASan on a loaded machine,
// all of it decoding and checking 3 Mpixel: bounded work, which the tool's own limit bounds the same way.
constexpr int64_t kFuzzMaxPixels = int64_t(1) << 20;

}  // namespace reddiff_fuzz
