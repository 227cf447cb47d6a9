// The one way to call a kernel pair. Every kernel header kernels/<group>/name.h declares
//   void name_cpu(const NameArgs&, Stream);   // the CPU twin, kernels/<group>/name.cpp (always built)
//   void name_cuda(const NameArgs&, Stream);  // the CUDA twin, kernels/<group>/name.cu (CUDA builds)
//   void name_check(const NameArgs&);         // the argument check both twins rely on, inline in the header
//   RD_KERNEL_DISPATCHER(name, NameArgs)       // defines void name(Device, const NameArgs&, Stream)
// and callers (the backends, operators, solvers, tests, benchmarks) call only name(device, args, stream):
// it runs name_check, then the twin of the device. A check is O(1) host code on the argument struct (null
// pointers where data is needed, negative sizes, channel counts that must divide, dtypes, aliasing the kernel
// relies on); it never touches the data, so it costs nothing beside a launch and is safe during a CUDA graph
// capture. A failed check is a one-line reddiff::Error naming the kernel (exit code 1: a caller's bug, not
// bad input). In a build without CUDA, Device::CUDA throws "this build has no CUDA support".
#pragma once
#include <cstdint>
#include <string>

#include "base/dtype.h"
#include "base/error.h"
#include "base/tensor.h"

namespace reddiff {

// Calls twin name##_cuda for Device::CUDA and name##_cpu otherwise, with any arguments and return type
// (also used for the non-kernel pairs: workspace sizes, FFT plans).
#ifdef REDDIFF_HAVE_CUDA
#define RD_TWIN(device, name, ...) \
  ((device) == ::reddiff::Device::CUDA ? name##_cuda(__VA_ARGS__) : name##_cpu(__VA_ARGS__))
#else
#define RD_TWIN(device, name, ...)                                                                   \
  ((device) == ::reddiff::Device::CUDA ? throw ::reddiff::Error("this build has no CUDA support", 1) \
                                       : name##_cpu(__VA_ARGS__))
#endif

// Defines the dispatcher of kernel `name` with argument struct `Args` (after name_check is declared).
#define RD_KERNEL_DISPATCHER(name, Args)                                                   \
  inline void name(::reddiff::Device device, const Args& args, ::reddiff::Stream stream) { \
    name##_check(args);                                                                    \
    RD_TWIN(device, name, args, stream);                                                   \
  }

// ---------------------------------------------------------------- pieces of the argument checks
[[noreturn]] inline void kernel_arg_error(const char* kernel, const std::string& what) {
  throw Error(std::string(kernel) + ": " + what, 1);
}
inline void kernel_require(bool ok, const char* kernel, const char* what) {
  if (!ok) kernel_arg_error(kernel, what);
}
// A buffer the kernel reads or writes: required whenever the kernel has work (`needed`).
inline void kernel_require_data(const void* p, bool needed, const char* kernel, const char* name) {
  if (needed && !p) kernel_arg_error(kernel, std::string("no ") + name + " buffer");
}
inline void kernel_require_size(int64_t v, const char* kernel, const char* name) {
  if (v < 0) kernel_arg_error(kernel, std::string("negative ") + name + " (" + std::to_string(v) + ")");
}
// The storage types of the network kernels: f32, f16 and bf16 (f32 math).
inline void kernel_require_act_dtype(DType t, const char* kernel) {
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16)
    kernel_arg_error(kernel, std::string("unsupported dtype ") + dtype_name(t));
}
// The network output read as eps_hat holds at least the image's channels (c, or 2c with a learned variance).
inline void kernel_require_eps_hat(int eps_hat_channels, int need, const char* kernel) {
  if (eps_hat_channels < need)
    kernel_arg_error(kernel,
                     "eps_hat has " + std::to_string(eps_hat_channels) + " channels, needs " + std::to_string(need));
}
// An NCHW image batch [n, c, hw]: non-negative sizes; returns whether it has elements.
inline bool kernel_require_batch(int n, int c, int64_t hw, const char* kernel) {
  kernel_require_size(n, kernel, "batch");
  kernel_require_size(c, kernel, "channel count");
  kernel_require_size(hw, kernel, "pixel count");
  return int64_t(n) * c * hw > 0;
}
// `parts` must split `whole` (channels into groups or heads): parts > 0 and whole % parts == 0.
inline void kernel_require_split(int64_t whole, int64_t parts, const char* kernel, const char* what_whole,
                                 const char* what_parts) {
  if (parts <= 0 || whole % parts != 0)
    kernel_arg_error(kernel, std::to_string(whole) + " " + what_whole + " do not split into " + std::to_string(parts) +
                                 " " + what_parts);
}

}  // namespace reddiff
