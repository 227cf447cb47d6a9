// Shared by every kernel: the stream type (from base/tensor.h), the dispatcher contract (kernels/dispatch.h)
// and the __host__ __device__ marker for element math that a CUDA kernel and its CPU twin both use. Kernels
// come in pairs with one signature, in kernels/network/ (the network's ops), kernels/solver/ (solver steps)
// and kernels/operator/ (operators):
//   void name_cpu(const NameArgs&, Stream);   // kernels/<group>/name.cpp, always built
//   void name_cuda(const NameArgs&, Stream);  // kernels/<group>/name.cu, built with the CUDA backend
//   void name(Device, const NameArgs&, Stream);  // the dispatcher: name_check, then the device's twin
// Network activations are NHWC on every backend (operator buffers NCHW); pointers are host pointers for
// _cpu and device pointers for _cuda.
#pragma once
#include <cmath>
#include <cstdint>

#include "base/dtype.h"
#include "base/tensor.h"
#include "kernels/dispatch.h"

#ifdef __CUDACC__
#define RD_HD __host__ __device__ __forceinline__
#else
#define RD_HD inline
#endif

namespace reddiff {

RD_HD float silu(float x) { return x / (1.0f + expf(-x)); }

}  // namespace reddiff
