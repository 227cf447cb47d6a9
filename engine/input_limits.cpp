// The process-wide pixel limit of input files (see input_limits.h) and its default from available memory.
#include "engine/input_limits.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "base/error.h"

namespace reddiff {
namespace {

std::atomic<int64_t> g_limit{0};  // 0: not set yet, the default applies
std::mutex g_origin_mutex;
std::string g_origin;

int64_t meminfo_available() {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  long long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
  std::fclose(f);
  return kb >= 0 ? int64_t(kb) * 1024 : -1;
}

}  // namespace

int64_t available_memory_bytes() {
  const int64_t m = meminfo_available();
  if (m > 0) return m;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * page : int64_t(8) << 30;
}

int64_t default_max_pixels(int64_t bytes_per_pixel) {
  const int64_t n = available_memory_bytes() / 2 / (bytes_per_pixel > 0 ? bytes_per_pixel : 1);
  return n > (int64_t(1) << 20) ? n : int64_t(1) << 20;
}

int64_t max_pixels() {
  int64_t n = g_limit.load();
  if (n > 0) return n;
  set_max_pixels(default_max_pixels(kRestoreBytesPerPixel), "");
  return g_limit.load();
}

void set_max_pixels(int64_t n, const std::string& origin) {
  if (n <= 0) throw Error("the pixel limit must be positive, got " + std::to_string(n));
  std::lock_guard<std::mutex> lock(g_origin_mutex);
  g_origin = origin;
  g_limit.store(n);
}

void check_pixels(const std::string& what, int64_t h, int64_t w) {
  const int64_t limit = max_pixels();
  // A side of 2^31 or more is refused whatever the limit: callers hold sizes in int.
  const bool over = h > 0 && w > 0 && (h > INT32_MAX || w > INT32_MAX || w > limit / h);
  if (!over) return;
  std::string origin;
  {
    std::lock_guard<std::mutex> lock(g_origin_mutex);
    origin = g_origin;
  }
  const double pixels = double(h) * double(w);
  char n[32];
  std::snprintf(n, sizeof n, pixels < 1e15 ? "%.0f" : "%.3g", pixels);
  const std::string size = what + " is " + std::to_string(w) + "x" + std::to_string(h) + " (" + n + " pixels)";
  if (origin == "--max-pixels") throw Error(size + ", over the --max-pixels limit of " + std::to_string(limit));
  throw Error(size + ", over the limit of " + std::to_string(limit) + " pixels (" +
              (origin.empty() ? std::string("from the available memory") : origin) + "); --max-pixels N raises it");
}

}  // namespace reddiff
