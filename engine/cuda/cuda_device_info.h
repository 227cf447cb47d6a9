// What the CUDA backend tells about its device beyond running ops: a timer of CUDA events on its stream,
// device memory as cudaMemGetInfo reports it, and the device's properties (Backend::make_timer,
// memory_info, properties).
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "engine/backend.h"

namespace reddiff {

// Two events recorded on `stream` of `device`; stop_ms waits for the second.
std::unique_ptr<StreamTimer> make_cuda_event_timer(int device, cudaStream_t stream);
// cudaMemGetInfo of `device`; false (and the CUDA error cleared) when it fails.
bool cuda_memory_info(int device, size_t* free_bytes, size_t* total_bytes);
DeviceProperties cuda_device_properties(int device);
// CUDA encodes versions as 1000*major + 10*minor: "12.4".
std::string cuda_version_string(int v);

}  // namespace reddiff
