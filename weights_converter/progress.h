// A one-line progress bar on stderr, drawn only when stderr is a terminal (so logs and tests stay clean).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace reddiff {

class ProgressBar {
 public:
  // Draws nothing unless stderr is a tty and `enabled`.
  ProgressBar(std::string label, uint64_t total, bool enabled = true);
  ~ProgressBar();  // clears the line
  void update(uint64_t done);
  void done();

 private:
  std::string label_;
  uint64_t total_;
  bool active_;
  int last_permille_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string human_bytes(uint64_t n);  // "2.06 GiB"

}  // namespace reddiff
