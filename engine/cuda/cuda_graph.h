// CUDA graphs: record the kernels, cuDNN/cuBLAS/cuFFT calls and copies one host function enqueues on a
// stream, then replay them with one launch (Backend::capture on the CUDA backend).
#pragma once
#include <cuda_runtime.h>

#include <functional>
#include <memory>
#include <string>

#include "engine/backend.h"

namespace reddiff {

// Captures in thread-local mode, so that an unsafe call made while recording (cudaMalloc, a synchronising
// copy) fails the capture instead of corrupting it. On failure returns null with the reason in *why and
// leaves the stream usable; nothing that `issue` enqueued has run.
std::unique_ptr<CapturedWork> capture_cuda_graph(cudaStream_t stream, const std::function<void()>& issue,
                                                 std::string* why);

}  // namespace reddiff
