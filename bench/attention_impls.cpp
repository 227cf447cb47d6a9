// Times the two CUDA attention implementations (kernels/network/attention.h: cuBLAS batched GEMMs + softmax, and
// the fused one-kernel version) on the attention shapes of the UNets reddiff runs, so that
// attention_cuda_impl's choice rests on a measurement (docs/benchmarks.md, "Attention").
//
//   bench_attention [--json FILE]       (needs a CUDA device; exits 77 without one)
//
// Each row: median of 50 timed launches (CUDA events) after 5 warm-ups, per (model, tokens, channels,
// heads, batch, dtype, implementation); the last column is GEMM time / fused time.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/network/attention.h"

using namespace reddiff;

namespace {

struct Case {
  const char* model;
  int t, c, heads;
};

#define CK(x)                                                                        \
  do {                                                                               \
    cudaError_t e_ = (x);                                                            \
    if (e_ != cudaSuccess) {                                                         \
      std::fprintf(stderr, "bench_attention: %s: %s\n", #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                  \
    }                                                                                \
  } while (0)

double median_ms(AttentionArgs a, cudaStream_t s) {
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int i = 0; i < 5; ++i) attention(Device::CUDA, a, s);
  std::vector<float> ms;
  for (int i = 0; i < 50; ++i) {
    CK(cudaEventRecord(e0, s));
    attention(Device::CUDA, a, s);
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float m = 0;
    CK(cudaEventElapsedTime(&m, e0, e1));
    ms.push_back(m);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc)
      json_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_attention [--json FILE]\n");
      return 2;
    }
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("bench_attention: no CUDA device\n");
    return 77;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  // 256x256 inputs: ImageNet-256 (attention at 32, 16, 8 px and the middle), FFHQ-256 (16 px), the bundled
  // model (16, 8 px); 64-channel heads everywhere.
  const Case cases[] = {{"imagenet256", 1024, 512, 8}, {"imagenet256", 256, 1024, 16}, {"imagenet256", 64, 1024, 16},
                        {"ffhq256", 256, 512, 8},      {"bundled", 256, 128, 2},       {"bundled", 64, 192, 3}};
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  std::printf("device: %s\n", prop.name);
  std::printf("%-12s %6s %6s %5s %5s %5s %10s %10s %8s\n", "model", "tokens", "ch", "heads", "batch", "dtype",
              "gemm ms", "fused ms", "speedup");
  std::string json = "{\"device\": \"" + std::string(prop.name) + "\", \"rows\": [";
  bool first = true;
  for (const Case& c : cases)
    for (int n : {1, 4, 16})
      for (DType dt : {DType::F16, DType::F32}) {
        size_t es = dtype_size(dt);
        void *qkv = nullptr, *out = nullptr, *ws = nullptr;
        size_t ws_bytes = attention_workspace_bytes(Device::CUDA, n, c.t, c.c, c.heads, dt);
        CK(cudaMalloc(&qkv, size_t(n) * c.t * 3 * c.c * es));
        CK(cudaMalloc(&out, size_t(n) * c.t * c.c * es));
        CK(cudaMalloc(&ws, std::max<size_t>(ws_bytes, 1)));
        CK(cudaMemset(qkv, 0, size_t(n) * c.t * 3 * c.c * es));  // timings do not depend on the values
        AttentionArgs a;
        a.qkv = qkv, a.out = out, a.workspace = ws, a.dtype = dt, a.n = n, a.t = c.t, a.c = c.c, a.heads = c.heads;
        a.impl = AttentionArgs::Impl::Gemm;
        double g = median_ms(a, s);
        a.impl = AttentionArgs::Impl::Fused;
        double f = median_ms(a, s);
        CK(cudaFree(qkv));
        CK(cudaFree(out));
        CK(cudaFree(ws));
        std::printf("%-12s %6d %6d %5d %5d %5s %10.4f %10.4f %8.2f\n", c.model, c.t, c.c, c.heads, n, dtype_name(dt), g,
                    f, g / f);
        char row[256];
        std::snprintf(
            row, sizeof row,
            "%s{\"model\": \"%s\", \"tokens\": %d, \"channels\": %d, \"heads\": %d, \"batch\": %d, \"dtype\": \"%s\", "
            "\"gemm_ms\": %.5f, \"fused_ms\": %.5f}",
            first ? "" : ", ", c.model, c.t, c.c, c.heads, n, dtype_name(dt), g, f);
        json += row;
        first = false;
      }
  json += "]}\n";
  if (!json_path.empty()) std::ofstream(json_path) << json;
  cudaStreamDestroy(s);
  return 0;
}
