// The backend interface: the model code and the plan are written once against it; the CPU backend
// (engine/cpu) and the CUDA backend (engine/cuda) implement it. A backend owns device memory, turns
// model parameters into its own weight layout once, and runs one graph op at a time on tensors that
// live in the plan's arena (activations are NHWC everywhere).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/tensor.h"
#include "engine/graph.h"

namespace reddiff {

struct Plan;
struct ModelWeights;

// The buffers of one op, resolved by the executor: inputs in op order, then the output.
struct OpTensors {
  Tensor in[3];
  int n_in = 0;
  Tensor out;
};

// What a backend's device is, for reports (reddiff bench's "device"); empty fields where they do not apply.
struct DeviceProperties {
  std::string name;                // "NVIDIA H100 80GB HBM3"; empty for the CPU backend
  std::string compute_capability;  // "9.0"
  size_t memory_bytes = 0;         // the device's global memory
  int multiprocessors = 0;
  std::string driver_version, runtime_version;  // CUDA's, "12.4"
};

// Times work queued on a backend's stream: start() marks the stream, stop_ms() marks it again, waits for the
// mark and returns the milliseconds between the two (CUDA: events, GPU time with host launch gaps included;
// elsewhere: steady_clock after a synchronize()).
class StreamTimer {
 public:
  virtual ~StreamTimer() = default;
  virtual void start() = 0;
  virtual double stop_ms() = 0;
};

// Work recorded once and replayed as a whole (a CUDA graph): one launch instead of one per kernel.
class CapturedWork {
 public:
  virtual ~CapturedWork() = default;
  virtual void launch() = 0;  // enqueues one replay on the backend's stream
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;        // "cpu (2 threads, OpenBLAS)", "cuda (NVIDIA H100 ...)"
  virtual bool supports(DType act) const = 0;  // activation precision

  // Memory: every device buffer of the engine and of the operators comes from here. upload and download
  // are synchronous; copy (device to device, overlapping allowed on the CPU) is enqueued on stream s, and
  // sync_stream(s) waits for the work enqueued on s (s = nullptr: the device's default stream).
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* p) = 0;
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes, Stream s) = 0;
  virtual void sync_stream(Stream s) = 0;
  virtual void synchronize() = 0;  // sync_stream(stream())
  virtual Stream stream() const { return nullptr; }

  // Called once when a plan is built: convert/upload weights for this precision, pick algorithms,
  // size workspaces. Returns the bytes the backend allocated beyond the arena (weights excluded).
  virtual size_t prepare(const Graph& g, const ModelWeights& w) = 0;
  virtual void run(const Graph& g, const Op& op, const OpTensors& t) = 0;
  // Bytes of weights this backend holds on its device (0 for the CPU backend, which uses host weights).
  virtual size_t weight_bytes() const { return 0; }
  // Drops everything prepared from these weights (called when a Network goes away): a later model may
  // reuse the same Param addresses, so cached conversions must not outlive their model.
  virtual void release_weights(const ModelWeights& w) = 0;

  // Records what `issue` enqueues on stream() as replayable work instead of running it. Returns null, with
  // the reason in *why, when the backend cannot capture (the CPU backend) or the work is not capturable
  // (it synchronised, allocated, copied to the host...); then nothing of `issue` has run, and the stream
  // works as before.
  virtual std::unique_ptr<CapturedWork> capture(const std::function<void()>& issue, std::string* why) {
    (void)issue;
    if (why) *why = "the " + name() + " backend does not capture work";
    return nullptr;
  }

  // Opens (true) or closes (false) the range an external profiler records: cudaProfilerStart/Stop on
  // CUDA, for `ncu --profile-from-start off` (reddiff bench --profile-forward, scripts/profile-gpu);
  // nothing elsewhere.
  virtual void profile_range(bool open) { (void)open; }

  // Free and total bytes of the device's memory as its driver reports them (every process on the device);
  // false where the backend has no such query (the CPU backend).
  virtual bool memory_info(size_t* free_bytes, size_t* total_bytes) {
    (void)free_bytes, (void)total_bytes;
    return false;
  }
  // A timer on stream() (see StreamTimer); the default synchronizes and reads steady_clock.
  virtual std::unique_ptr<StreamTimer> make_timer();
  virtual DeviceProperties properties() const { return {}; }
};

// CPU backend (always available).
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);
// CUDA backend; throws reddiff::Error when this build has no CUDA support or no device is present.
std::unique_ptr<Backend> make_cuda_backend(int device_index = 0);
// True when a CUDA device can be used by this build.
bool cuda_available();
// The CUDA driver, runtime and cuDNN versions found at run time, and device 0, on one line (for
// `reddiff --version`); says so when there is no driver or device, or when this build has no CUDA.
std::string cuda_versions();

}  // namespace reddiff
