#include "tool/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace reddiff {

StepProgressBar::StepProgressBar(int64_t total_steps, int total_images, bool enabled)
    : enabled_(enabled && stderr_is_terminal()),
      total_steps_(total_steps),
      total_images_(total_images),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

StepProgressBar::~StepProgressBar() { finish(); }

bool StepProgressBar::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

double StepProgressBar::steps_per_second() const {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0 ? double(done_steps_) / s : 0.0;
}

void StepProgressBar::step(int index_in_batch, int steps_in_batch) {
  ++done_steps_;
  batch_step_ = index_in_batch;
  batch_steps_ = steps_in_batch;
  draw(index_in_batch == steps_in_batch);
}

void StepProgressBar::images_done(int n) {
  done_images_ += n;
  draw(true);
}

void StepProgressBar::note(const std::string& line) {
  clear();
  std::fprintf(stderr, "%s\n", line.c_str());
  draw(true);
}

void StepProgressBar::clear() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  drawn_ = false;
}

void StepProgressBar::finish() {
  clear();
  std::fflush(stderr);
  enabled_ = false;
}

void StepProgressBar::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double rate = steps_per_second();
  const int width = 24;
  const double frac = total_steps_ > 0 ? double(done_steps_) / double(total_steps_) : 0.0;
  const int fill = int(frac * width + 0.5);
  std::string bar(size_t(fill > width ? width : fill), '#');
  bar.resize(size_t(width), ' ');
  char eta[32] = "--:--";
  if (rate > 0 && done_steps_ > 0) {
    const long left = long(double(total_steps_ - done_steps_) / rate + 0.5);
    if (left >= 3600)
      std::snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", left / 3600, (left / 60) % 60, left % 60);
    else
      std::snprintf(eta, sizeof eta, "%ld:%02ld", left / 60, left % 60);
  }
  std::fprintf(stderr, "\r\033[K[%s] step %d/%d  %.2f steps/s  ETA %s", bar.c_str(), batch_step_, batch_steps_, rate,
               eta);
  if (total_images_ > 1) std::fprintf(stderr, "  images %d/%d", done_images_, total_images_);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace reddiff
