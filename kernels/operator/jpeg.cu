// CUDA twins of kernels/operator/jpeg.h. The block transforms run 4 DCT blocks per 256-thread CUDA block:
// each thread makes one sample, then the two separable passes go through shared memory (16 multiply-adds
// per thread instead of 64 per coefficient).
#include "base/cuda_check.h"
#include "kernels/operator/jpeg.h"

namespace reddiff {
namespace {

constexpr int kBlocksPerCta = 4;
constexpr int kThreads = kBlocksPerCta * 64;

// The DCT basis into shared memory (the first 64 threads), for the whole CTA.
__device__ void load_basis(float* basis) {
  if (threadIdx.x < 64) basis[threadIdx.x] = jpeg_dct_basis(threadIdx.x >> 3, threadIdx.x & 7);
  __syncthreads();
}

// Separable 8x8 transform of sm[lb] (row-major) in shared memory; returns this thread's output element e.
__device__ float dct_passes(float (*sm)[64], float (*tmp)[64], const float* basis, int lb, int e, bool valid,
                            bool inverse) {
  const int u = e >> 3, j = e & 7;
  if (valid) {
    float acc = 0.0f;
    for (int i = 0; i < 8; ++i) acc += (inverse ? basis[i * 8 + u] : basis[u * 8 + i]) * sm[lb][i * 8 + j];
    tmp[lb][u * 8 + j] = acc;
  }
  __syncthreads();
  float out = 0.0f;
  if (valid) {
    const int v = j;
    for (int jj = 0; jj < 8; ++jj) out += (inverse ? basis[jj * 8 + v] : basis[v * 8 + jj]) * tmp[lb][u * 8 + jj];
  }
  __syncthreads();
  return out;
}

__global__ void analysis_kernel(JpegAnalysisArgs a) {
  __shared__ float basis[64];
  __shared__ float sm[kBlocksPerCta][64];
  __shared__ float tmp[kBlocksPerCta][64];
  load_basis(basis);
  const JpegGeom& g = a.g;
  const int64_t mb = g.m / 64, total = int64_t(g.n) * mb, image = int64_t(g.c) * g.h * g.w;
  const int64_t groups = (total + kBlocksPerCta - 1) / kBlocksPerCta;
  const int lb = threadIdx.x >> 6, e = threadIdx.x & 63;
  for (int64_t grp = blockIdx.x; grp < groups; grp += gridDim.x) {
    const int64_t blk = grp * kBlocksPerCta + lb;
    const bool valid = blk < total;
    int64_t i = 0, b = 0;
    int kk = 0;
    if (valid) {
      i = blk / mb;
      b = blk - i * mb;
      kk = jpeg_block_component(g, b);
      const JpegComponentGeom& k = g.comp[kk];
      const int64_t local = b - k.offset / 64;
      const int by = int(local / k.wb), bx = int(local - int64_t(by) * k.wb);
      const int s = by * 8 + (e >> 3), t = bx * 8 + (e & 7);
      const float* xi = a.x + i * image;
      sm[lb][e] = a.gather == JpegGather::Encode ? jpeg_encode_sample(xi, g, k, s, t)
                                                 : jpeg_decode_adjoint_sample(xi, g, k, s, t);
    }
    __syncthreads();
    const float v = dct_passes(sm, tmp, basis, lb, e, valid, false);
    if (valid) {
      const int64_t idx = i * g.m + b * 64 + e;
      a.out[idx] = jpeg_epilogue(a, idx, (i * g.ncomp + kk) * 64 + e, v);
    }
  }
}

__global__ void block_dct_kernel(JpegBlockDctArgs a) {
  __shared__ float basis[64];
  __shared__ float sm[kBlocksPerCta][64];
  __shared__ float tmp[kBlocksPerCta][64];
  load_basis(basis);
  const int64_t groups = (a.blocks + kBlocksPerCta - 1) / kBlocksPerCta;
  const int lb = threadIdx.x >> 6, e = threadIdx.x & 63;
  for (int64_t grp = blockIdx.x; grp < groups; grp += gridDim.x) {
    const int64_t blk = grp * kBlocksPerCta + lb;
    const bool valid = blk < a.blocks;
    if (valid) sm[lb][e] = a.in[blk * 64 + e];
    __syncthreads();
    const float v = dct_passes(sm, tmp, basis, lb, e, valid, a.inverse);
    if (valid) a.out[blk * 64 + e] = v;
  }
}

__global__ void synthesis_kernel(JpegSynthesisArgs a) {
  const JpegGeom& g = a.g;
  const int64_t hw = int64_t(g.h) * g.w, total = int64_t(g.n) * hw, image = int64_t(g.c) * hw;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / hw, pix = idx - i * hw;
    const int p = int(pix / g.w), q = int(pix - int64_t(p) * g.w);
    jpeg_synthesis_pixel(a.samples + i * g.m, a.x + i * image, g, a.mode, p, q);
  }
}

__global__ void quant_bins_kernel(QuantBinArgs a) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < a.count; i += int64_t(gridDim.x) * blockDim.x)
    a.out[i] = quant_element(a, i);
}

}  // namespace

void ops_jpeg_analysis_cuda(const JpegAnalysisArgs& a, Stream s) {
  const int64_t total = int64_t(a.g.n) * (a.g.m / 64);
  if (total == 0) return;
  const unsigned grid = grid_for((total + kBlocksPerCta - 1) / kBlocksPerCta, 1);
  analysis_kernel<<<grid, kThreads, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("jpeg analysis");
}

void ops_jpeg_block_dct_cuda(const JpegBlockDctArgs& a, Stream s) {
  if (a.blocks == 0) return;
  const unsigned grid = grid_for((a.blocks + kBlocksPerCta - 1) / kBlocksPerCta, 1);
  block_dct_kernel<<<grid, kThreads, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("jpeg block dct");
}

void ops_jpeg_synthesis_cuda(const JpegSynthesisArgs& a, Stream s) {
  const int64_t total = int64_t(a.g.n) * a.g.h * a.g.w;
  if (total == 0) return;
  synthesis_kernel<<<grid_for(total), 256, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("jpeg synthesis");
}

void ops_quant_bins_cuda(const QuantBinArgs& a, Stream s) {
  if (a.count == 0) return;
  quant_bins_kernel<<<grid_for(a.count), 256, 0, as_cuda_stream(s)>>>(a);
  RD_CUDA_CHECK_LAUNCH("quant bins");
}

}  // namespace reddiff
