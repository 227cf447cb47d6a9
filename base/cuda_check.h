// The one CUDA helper header, shared by every CUDA file (kernel twins, operator kernels, the CUDA
// backend): checked CUDA/cuBLAS calls and kernel launches that throw reddiff::Error (exit code 1) naming
// the call, the per-thread cuBLAS handle, the Stream -> cudaStream_t cast, the grid of a grid-stride loop,
// and (in .cu files) the f32/f16/bf16 device storage types with f32 conversions and block reductions.
// Only built with the CUDA backend (base/cuda_check.cpp).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "base/dtype.h"
#include "base/error.h"
#include "base/tensor.h"

namespace reddiff {

// Throws reddiff::Error("CUDA call failed: <call>: <what> (<file>:<line>)") with exit code 1.
[[noreturn]] void cuda_fail(const char* api, const char* call, const char* what, const char* file, int line);
const char* cublas_status_string(cublasStatus_t s);

// The cuBLAS handle of the calling thread for the current device, bound to stream s. Created once
// (math mode CUBLAS_DEFAULT_MATH: no TF32 for f32 data) and kept for the life of the process.
cublasHandle_t cuda_blas_handle(cudaStream_t s);

inline cudaStream_t as_cuda_stream(Stream s) { return static_cast<cudaStream_t>(s); }

// Blocks for a 1-D grid-stride kernel over n elements.
inline unsigned grid_for(int64_t n, int block = 256) {
  int64_t b = (n + block - 1) / block;
  if (b < 1) b = 1;
  if (b > 65535LL * 32) b = 65535LL * 32;  // grid-stride loops cover the rest
  return unsigned(b);
}

}  // namespace reddiff

#define RD_CUDA_CHECK(call)                                                                                           \
  do {                                                                                                                \
    cudaError_t rd_err_ = (call);                                                                                     \
    if (rd_err_ != cudaSuccess) ::reddiff::cuda_fail("CUDA", #call, cudaGetErrorString(rd_err_), __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports launch-configuration errors (and any earlier asynchronous error), naming
// the kernel: "CUDA kernel call failed: <name>: <what> (<file>:<line>)".
#define RD_CUDA_CHECK_LAUNCH(name)                                                                  \
  do {                                                                                              \
    cudaError_t rd_err_ = cudaGetLastError();                                                       \
    if (rd_err_ != cudaSuccess)                                                                     \
      ::reddiff::cuda_fail("CUDA kernel", (name), cudaGetErrorString(rd_err_), __FILE__, __LINE__); \
  } while (0)

#define RD_CUBLAS_CHECK(call)                                                                             \
  do {                                                                                                    \
    cublasStatus_t rd_st_ = (call);                                                                       \
    if (rd_st_ != CUBLAS_STATUS_SUCCESS)                                                                  \
      ::reddiff::cuda_fail("cuBLAS", #call, ::reddiff::cublas_status_string(rd_st_), __FILE__, __LINE__); \
  } while (0)

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace reddiff {

// Storage element types: f32 math on every one, round-to-nearest-even stores (as the CPU twins).
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) with T the device storage type of dtype t (f32, f16, bf16).
template <typename F>
void dispatch_cuda_storage(DType t, const char* kernel, F&& f) {
  switch (t) {
    case DType::F32:
      f(TypeTag<float>{});
      return;
    case DType::F16:
      f(TypeTag<__half>{});
      return;
    case DType::BF16:
      f(TypeTag<__nv_bfloat16>{});
      return;
    default:
      throw Error(std::string(kernel) + ": unsupported dtype " + dtype_name(t), 1);
  }
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024). Every thread gets the result.
// `scratch` holds at least 32 floats; the call ends with the block synchronised.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();  // scratch may still be read by an earlier call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace reddiff
#endif
