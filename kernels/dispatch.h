// Calls a kernel's CUDA twin for Device::CUDA and its CPU twin otherwise:
//   RD_KERNEL(device, reddiff_noise, args, stream)  ->  reddiff_noise_cuda(args, stream) / reddiff_noise_cpu(...)
#pragma once
#include "base/error.h"
#include "base/tensor.h"

#ifdef REDDIFF_HAVE_CUDA
#define RD_KERNEL(device, name, args, stream) \
  ((device) == ::reddiff::Device::CUDA ? name##_cuda(args, stream) : name##_cpu(args, stream))
#else
#define RD_KERNEL(device, name, args, stream)                                                      \
  ((device) == ::reddiff::Device::CUDA ? throw ::reddiff::Error("this build has no CUDA support", 1) \
                                       : name##_cpu(args, stream))
#endif
