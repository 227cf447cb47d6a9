// The Backend interface's default timer: synchronize, then steady_clock (backends with device-side timing,
// CUDA's events, override make_timer).
#include "engine/backend.h"

#include <chrono>

namespace reddiff {
namespace {

class SyncTimer : public StreamTimer {
 public:
  explicit SyncTimer(Backend& b) : b_(b) {}
  void start() override {
    b_.synchronize();
    t0_ = std::chrono::steady_clock::now();
  }
  double stop_ms() override {
    b_.synchronize();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  Backend& b_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace

std::unique_ptr<StreamTimer> Backend::make_timer() { return std::make_unique<SyncTimer>(*this); }

}  // namespace reddiff
