#include "weights_converter/progress.h"

#include <unistd.h>

#include <cstdio>

namespace reddiff {

std::string human_bytes(uint64_t n) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  return buf;
}

ProgressBar::ProgressBar(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), active_(enabled && isatty(STDERR_FILENO)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() { done(); }

void ProgressBar::update(uint64_t done) {
  if (!active_ || total_ == 0) return;
  int permille = int(done >= total_ ? 1000 : done * 1000 / total_);
  auto now = std::chrono::steady_clock::now();
  if (permille == last_permille_ || (now - last_draw_ < std::chrono::milliseconds(100) && permille < 1000)) return;
  last_permille_ = permille;
  last_draw_ = now;
  const int width = 30;
  int fill = permille * width / 1000;
  std::string bar(size_t(fill), '#');
  bar.append(size_t(width - fill), ' ');
  double secs = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r%s [%s] %5.1f%%  %s / %s  %.0fs ", label_.c_str(), bar.c_str(), permille / 10.0,
               human_bytes(done).c_str(), human_bytes(total_).c_str(), secs);
  std::fflush(stderr);
}

void ProgressBar::done() {
  if (!active_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  active_ = false;
}

}  // namespace reddiff
