// A one-line progress bar on stderr: "restoring [#####     ] step 37/100  4.1 steps/s  ETA 0:15  img 3/10".
// Drawn only when stderr is a terminal and not disabled (--quiet); redrawn at most 10 times a second.
// Lines printed through note() appear above the bar.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace reddiff {

class StepProgressBar {
 public:
  // total_steps: solver steps of the whole run (steps x batches); total_images: images to restore.
  StepProgressBar(int64_t total_steps, int total_images, bool enabled);
  ~StepProgressBar();
  static bool stderr_is_terminal();

  // One solver step done (of a batch of `images` images).
  void step(int index_in_batch, int steps_in_batch);
  void images_done(int n);  // n images finished (or failed) since the last call
  // Prints a line on stderr (always, bar or not), keeping the bar below it.
  void note(const std::string& line);
  void finish();  // clears the bar
  double steps_per_second() const;

 private:
  void draw(bool force);
  void clear();
  bool enabled_;
  bool drawn_ = false;
  int64_t total_steps_, done_steps_ = 0;
  int total_images_, done_images_ = 0;
  int batch_step_ = 0, batch_steps_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace reddiff
