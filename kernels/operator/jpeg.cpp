// CPU twins of kernels/operator/jpeg.h.
#include "kernels/operator/jpeg.h"

namespace reddiff {
namespace {

struct DctTable {
  float c[64];  // c[u * 8 + i]
  DctTable() {
    for (int u = 0; u < 8; ++u)
      for (int i = 0; i < 8; ++i) c[u * 8 + i] = jpeg_dct_basis(u, i);
  }
};
const DctTable& dct_table() {
  static const DctTable t;
  return t;
}

// out = C s C^T (forward) or C^T s C (inverse) for one 8x8 block (row-major); out may alias in.
void dct8x8(const float* in, float* out, bool inverse) {
  const float* c = dct_table().c;
  float tmp[64], src[64];
  for (int i = 0; i < 64; ++i) src[i] = in[i];
  // rows: tmp[u][j] = sum_i B(u, i) src[i][j], B = C or C^T
  for (int u = 0; u < 8; ++u)
    for (int j = 0; j < 8; ++j) {
      float acc = 0.0f;
      for (int i = 0; i < 8; ++i) acc += (inverse ? c[i * 8 + u] : c[u * 8 + i]) * src[i * 8 + j];
      tmp[u * 8 + j] = acc;
    }
  // columns: out[u][v] = sum_j B(v, j) tmp[u][j]
  for (int u = 0; u < 8; ++u)
    for (int v = 0; v < 8; ++v) {
      float acc = 0.0f;
      for (int j = 0; j < 8; ++j) acc += (inverse ? c[j * 8 + v] : c[v * 8 + j]) * tmp[u * 8 + j];
      out[u * 8 + v] = acc;
    }
}

}  // namespace

void ops_jpeg_analysis_cpu(const JpegAnalysisArgs& a, Stream) {
  const JpegGeom& g = a.g;
  const int64_t mb = g.m / 64, total = int64_t(g.n) * mb, image = int64_t(g.c) * g.h * g.w;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < total; ++blk) {
    const int64_t i = blk / mb, b = blk - i * mb;
    const int kk = jpeg_block_component(g, b);
    const JpegComponentGeom& k = g.comp[kk];
    const int64_t local = b - k.offset / 64;
    const int by = int(local / k.wb), bx = int(local - int64_t(by) * k.wb);
    const float* xi = a.x + i * image;
    float s[64];
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c)
        s[r * 8 + c] = a.gather == JpegGather::Encode ? jpeg_encode_sample(xi, g, k, by * 8 + r, bx * 8 + c)
                                                      : jpeg_decode_adjoint_sample(xi, g, k, by * 8 + r, bx * 8 + c);
    dct8x8(s, s, false);
    const int64_t base = i * g.m + b * 64, table = (i * g.ncomp + kk) * 64;
    for (int e = 0; e < 64; ++e) a.out[base + e] = jpeg_epilogue(a, base + e, table + e, s[e]);
  }
}

void ops_jpeg_block_dct_cpu(const JpegBlockDctArgs& a, Stream) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < a.blocks; ++b) dct8x8(a.in + b * 64, a.out + b * 64, a.inverse);
}

void ops_jpeg_synthesis_cpu(const JpegSynthesisArgs& a, Stream) {
  const JpegGeom& g = a.g;
  const int64_t rows = int64_t(g.n) * g.h, image = int64_t(g.c) * g.h * g.w;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = r / g.h;
    const int p = int(r - i * g.h);
    for (int q = 0; q < g.w; ++q) jpeg_synthesis_pixel(a.samples + i * g.m, a.x + i * image, g, a.mode, p, q);
  }
}

void ops_quant_bins_cpu(const QuantBinArgs& a, Stream) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < a.count; ++i) a.out[i] = quant_element(a, i);
}

}  // namespace reddiff
