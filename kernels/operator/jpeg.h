// Kernels of the bin-measurement operators: JPEG (operators/op_jpeg.cpp) and quant (operators/op_quant.cpp).
//
// A JPEG image (NCHW float in [-1, 1], c = 1 or 3) maps to one vector of m coefficients per image: per
// component k (Y, Cb, Cr, or one grey/luma component), blocks of 64 in block-row-major order, each block's
// coefficients in natural order (index u*8 + v, u the vertical frequency), component k starting at
// comp[k].offset. The same layout holds 8x8 blocks of samples (sample (s, t) at ((s/8)*wb + t/8)*64 +
// (s%8)*8 + t%8), so a block DCT maps one to the other. Values are in [-1, 1] units: a sample is
// (libjpeg sample - 128) / 127.5 and a coefficient is the orthonormal DCT-II of those, i.e. libjpeg's
// F(u, v) / 127.5 (the quantisation steps are q / 127.5).
//
// How libjpeg's encoder makes a component's samples (jcprepct.c, jcsample.c), which the Encode gather
// reproduces in exact arithmetic: colour conversion of every pixel; the full-resolution rows padded to a
// multiple of max_v by repeating the last row and the columns to 8*wb*fx by repeating the last column; box
// averages of fy x fx pixels; the downsampled rows padded to the block grid by repeating the last one.
// So sample (s, t) of component k averages the pixels (min(min(s, rows-1)*fy + a, H-1), min(t*fx + b, W-1)),
// a < fy, b < fx, of sum_ch w[ch] x[ch], plus bias.
//
// The maps (every one is a kernel pair, CPU and CUDA):
//   ops_jpeg_analysis   image-domain gather + 8x8 DCT + an element epilogue -> coefficient vector
//       gather Encode:        the encoder's samples above (the forward map E)
//       gather DecodeAdjoint: the adjoint of Decode below: sample (s, t) = sum_ch back[ch] * sum of the
//                             pixels (s*fy + a, t*fx + b) inside the image
//   ops_jpeg_block_dct  batched orthonormal 8x8 DCT-II or its inverse over `blocks` blocks (may be in place)
//   ops_jpeg_synthesis  sample blocks (after an inverse DCT) -> image, per pixel:
//       Adjoint: the adjoint of the Encode gather: x[ch] = sum_k w_k[ch] / (fx fy) * sum over the samples
//                that read the pixel (with multiplicity: edge pixels are read by the padded samples too)
//       Decode:  x[ch] = sum_k back_k[ch] * (S_k(p / fy, q / fx) - bias_k): nearest-neighbour chroma
//                upsampling and the inverse colour transform (a right inverse of Encode's colour, box
//                average and padding)
//   ops_quant_bins      the quantisation task's element maps (flat arrays)
// Epilogues (BinEpilogue), with v the computed coefficient (or pixel), centre the measured bin centre,
// [lo, hi] the bin and d = v - clamp(v, lo, hi) the signed distance past the bin:
//   None: v;  Apply: centre + d;  Mask: (d != 0) * in;  Residual: (d != 0) * (centre + d - in);
//   Round: the quantiser itself (JPEG: round half away from zero of v / q, times q; quant: nearest level)
// so that with y = centre, Apply - y = d and Residual = J^T-ready residual of 0.5 * sum d^2.
#pragma once
#include "kernels/operator/common.h"

namespace reddiff {

struct JpegComponentGeom {
  int fx = 1, fy = 1;      // image pixels per sample across (max_h / h_samp) and down (max_v / v_samp)
  int wb = 0, hb = 0;      // block grid: samples (s, t), s < 8 hb, t < 8 wb
  int rows = 0;            // sample rows made from image rows (later rows repeat row rows - 1)
  int64_t offset = 0;      // first coefficient of this component in an image's vector (a multiple of 64)
  float w[3] = {0, 0, 0};  // S = sum_ch w[ch] x[ch] + bias
  float bias = 0.0f;
  float back[3] = {0, 0, 0};  // decode: x[ch] = sum_k back_k[ch] (S_k - bias_k)
};

struct JpegGeom {
  int n = 0, c = 3, h = 0, w = 0;  // the image batch
  int ncomp = 0;                   // 1..3
  int64_t m = 0;                   // coefficients per image
  JpegComponentGeom comp[3];
};

enum class JpegGather { Encode, DecodeAdjoint };
enum class JpegSynth { Adjoint, Decode };
enum class BinEpilogue { None, Apply, Mask, Residual, Round };

struct JpegAnalysisArgs {
  const float* x = nullptr;       // [n, c, h, w]
  float* out = nullptr;           // [n, m]
  const float* centre = nullptr;  // [n, m] bin centres: Apply, Mask, Residual
  const float* step = nullptr;    // [n, ncomp, 64] quantisation steps (q / 127.5): Apply, Mask, Residual, Round
  const float* in = nullptr;      // [n, m] Mask: the cotangent; Residual: y
  JpegGeom g;
  JpegGather gather = JpegGather::Encode;
  BinEpilogue epilogue = BinEpilogue::None;
};
void ops_jpeg_analysis_cpu(const JpegAnalysisArgs& a, Stream s);
void ops_jpeg_analysis_cuda(const JpegAnalysisArgs& a, Stream s);
// The geometry both directions rely on; returns whether the batch has coefficients.
inline bool jpeg_geom_check(const char* k, const JpegGeom& g) {
  kernel_require_size(g.n, k, "batch");
  kernel_require_size(g.h, k, "height");
  kernel_require_size(g.w, k, "width");
  kernel_require(g.c >= 1 && g.c <= 3, k, "an image has 1 to 3 channels");
  kernel_require(g.ncomp >= 1 && g.ncomp <= 3, k, "a JPEG has 1 to 3 components");
  kernel_require(g.m >= 0 && g.m % 64 == 0, k, "the coefficients per image are not whole 8x8 blocks");
  return int64_t(g.n) * g.m > 0;
}
// The epilogue's inputs: the steps for every epilogue but None, the centres for Apply, Mask and Residual,
// `in` for Mask and Residual.
inline void bin_epilogue_check(const char* k, BinEpilogue e, bool work, const float* centre, const float* in) {
  const bool bins = e == BinEpilogue::Apply || e == BinEpilogue::Mask || e == BinEpilogue::Residual;
  kernel_require_data(centre, work && bins, k, "bin centre");
  kernel_require_data(in, work && (e == BinEpilogue::Mask || e == BinEpilogue::Residual), k, "epilogue input");
}
inline void ops_jpeg_analysis_check(const JpegAnalysisArgs& a) {
  const char* k = "jpeg_analysis";
  const bool work = jpeg_geom_check(k, a.g);
  kernel_require_data(a.x, work, k, "image");
  kernel_require_data(a.out, work, k, "coefficient");
  kernel_require_data(a.step, work && a.epilogue != BinEpilogue::None, k, "quantisation step");
  bin_epilogue_check(k, a.epilogue, work, a.centre, a.in);
  ops_require_distinct(a.x, a.out, k);
}
RD_KERNEL_DISPATCHER(ops_jpeg_analysis, JpegAnalysisArgs)

struct JpegBlockDctArgs {
  const float* in = nullptr;
  float* out = nullptr;  // may equal in
  int64_t blocks = 0;
  bool inverse = false;
};
void ops_jpeg_block_dct_cpu(const JpegBlockDctArgs& a, Stream s);
void ops_jpeg_block_dct_cuda(const JpegBlockDctArgs& a, Stream s);
inline void ops_jpeg_block_dct_check(const JpegBlockDctArgs& a) {
  kernel_require_size(a.blocks, "jpeg_block_dct", "block count");
  kernel_require_data(a.in, a.blocks > 0, "jpeg_block_dct", "input");
  kernel_require_data(a.out, a.blocks > 0, "jpeg_block_dct", "output");
}
RD_KERNEL_DISPATCHER(ops_jpeg_block_dct, JpegBlockDctArgs)

struct JpegSynthesisArgs {
  const float* samples = nullptr;  // [n, m] sample blocks
  float* x = nullptr;              // [n, c, h, w]
  JpegGeom g;
  JpegSynth mode = JpegSynth::Adjoint;
};
void ops_jpeg_synthesis_cpu(const JpegSynthesisArgs& a, Stream s);
void ops_jpeg_synthesis_cuda(const JpegSynthesisArgs& a, Stream s);
inline void ops_jpeg_synthesis_check(const JpegSynthesisArgs& a) {
  const char* k = "jpeg_synthesis";
  const bool work = jpeg_geom_check(k, a.g);
  kernel_require_data(a.samples, work, k, "sample");
  kernel_require_data(a.x, work, k, "image");
  ops_require_distinct(a.samples, a.x, k);
}
RD_KERNEL_DISPATCHER(ops_jpeg_synthesis, JpegSynthesisArgs)

// Quantisation to N bits (levels = 2^N - 1): level k in 0..levels has the value 2k/levels - 1 and the bin
// [value - 1/levels, value + 1/levels] (open below level 0 and above the top level: saturation). Element
// maps over count values of x with the epilogues above (Round: the nearest level, the official quantiser
// floor((x + 1)/2 * levels + 1/2), clamped to the levels).
struct QuantBinArgs {
  const float* x = nullptr;
  const float* centre = nullptr;  // Apply, Mask, Residual
  const float* in = nullptr;      // Mask: cotangent; Residual: y
  float* out = nullptr;
  int64_t count = 0;
  int levels = 15;
  BinEpilogue epilogue = BinEpilogue::Round;
};
void ops_quant_bins_cpu(const QuantBinArgs& a, Stream s);
void ops_quant_bins_cuda(const QuantBinArgs& a, Stream s);
inline void ops_quant_bins_check(const QuantBinArgs& a) {
  const char* k = "quant_bins";
  kernel_require_size(a.count, k, "element count");
  kernel_require(a.levels >= 1, k, "fewer than 2 quantisation levels");
  const bool work = a.count > 0;
  kernel_require_data(a.x, work, k, "x");
  kernel_require_data(a.out, work, k, "output");
  bin_epilogue_check(k, a.epilogue, work, a.centre, a.in);
}
RD_KERNEL_DISPATCHER(ops_quant_bins, QuantBinArgs)

// ---------------------------------------------------------------- shared element math

// Orthonormal 8-point DCT-II basis: c(u, i) = sqrt(2/8) C(u) cos((2i + 1) u pi / 16), C(0) = 1/sqrt(2).
RD_HD float jpeg_dct_basis(int u, int i) {
  const double pi = 3.14159265358979323846;
  const double cu = u == 0 ? 0.35355339059327376220 : 0.5;  // sqrt(1/8), sqrt(2/8)
  return float(cu * cos((2 * i + 1) * u * pi / 16.0));
}

RD_HD float bin_epilogue(BinEpilogue e, float v, float centre, float lo, float hi, float in) {
  const float d = v - fminf(fmaxf(v, lo), hi);
  switch (e) {
    case BinEpilogue::Apply:
      return centre + d;
    case BinEpilogue::Mask:
      return d != 0.0f ? in : 0.0f;
    case BinEpilogue::Residual:
      return d != 0.0f ? centre + d - in : 0.0f;
    default:
      return v;
  }
}

// libjpeg's quantiser: round half away from zero of v / q, times q.
RD_HD float jpeg_round(float v, float q) {
  const float t = v / q;
  const float k = t < 0.0f ? -floorf(-t + 0.5f) : floorf(t + 0.5f);
  return k * q;
}

RD_HD int jpeg_min(int a, int b) { return a < b ? a : b; }

// The epilogue of coefficient idx (index into the [n, m] arrays) whose quantisation step is step[table].
RD_HD float jpeg_epilogue(const JpegAnalysisArgs& a, int64_t idx, int64_t table, float v) {
  if (a.epilogue == BinEpilogue::None) return v;
  const float q = a.step[table];
  if (a.epilogue == BinEpilogue::Round) return jpeg_round(v, q);
  const float c = a.centre[idx];
  return bin_epilogue(a.epilogue, v, c, c - 0.5f * q, c + 0.5f * q, a.in ? a.in[idx] : 0.0f);
}

// Index of a sample or coefficient (s, t) of a component inside an image's vector.
RD_HD int64_t jpeg_index(const JpegComponentGeom& k, int s, int t) {
  return k.offset + ((int64_t(s >> 3) * k.wb + (t >> 3)) << 6) + ((s & 7) << 3) + (t & 7);
}

// The component of an image's block number b (0 <= b < m/64).
RD_HD int jpeg_block_component(const JpegGeom& g, int64_t b) {
  int k = 0;
  while (k + 1 < g.ncomp && b * 64 >= g.comp[k + 1].offset) ++k;
  return k;
}

// Encode gather of sample (s, t) of component k from image xi ([c, h, w]).
RD_HD float jpeg_encode_sample(const float* xi, const JpegGeom& g, const JpegComponentGeom& k, int s, int t) {
  const int sc = s < k.rows ? s : k.rows - 1;
  const int64_t hw = int64_t(g.h) * g.w;
  float acc = 0.0f;
  for (int ch = 0; ch < g.c; ++ch) {
    if (k.w[ch] == 0.0f) continue;
    const float* p = xi + ch * hw;
    float sum = 0.0f;
    for (int a = 0; a < k.fy; ++a) {
      const int row = jpeg_min(sc * k.fy + a, g.h - 1);
      for (int b = 0; b < k.fx; ++b) sum += p[int64_t(row) * g.w + jpeg_min(t * k.fx + b, g.w - 1)];
    }
    acc += k.w[ch] * sum;
  }
  return acc / float(k.fx * k.fy) + k.bias;
}

// DecodeAdjoint gather of sample (s, t) of component k from an image-domain vector ri ([c, h, w]).
RD_HD float jpeg_decode_adjoint_sample(const float* ri, const JpegGeom& g, const JpegComponentGeom& k, int s, int t) {
  const int64_t hw = int64_t(g.h) * g.w;
  float acc = 0.0f;
  for (int ch = 0; ch < g.c; ++ch) {
    if (k.back[ch] == 0.0f) continue;
    const float* p = ri + ch * hw;
    float sum = 0.0f;
    for (int a = 0; a < k.fy; ++a) {
      const int row = s * k.fy + a;
      if (row >= g.h) break;
      for (int b = 0; b < k.fx; ++b) {
        const int col = t * k.fx + b;
        if (col >= g.w) break;
        sum += p[int64_t(row) * g.w + col];
      }
    }
    acc += k.back[ch] * sum;
  }
  return acc;
}

// Along one axis of a component: sample j in [0, ns) reads the image pixels min(min(j, nv-1)*f + a, n-1),
// a < f. The samples that read pixel p are j in [*j0, *j1), each jpeg_axis_count(j, ...) times.
RD_HD void jpeg_axis_span(int p, int f, int n, int nv, int ns, int* j0, int* j1) {
  if (p < n - 1) {
    const int jc = p / f;
    *j0 = jc;
    *j1 = jc == nv - 1 ? ns : jc + 1;
  } else {
    *j0 = (n - 1) / f;
    *j1 = ns;
  }
}
RD_HD int jpeg_axis_count(int j, int p, int f, int n, int nv) {
  if (p < n - 1) return 1;
  const int jc = j < nv ? j : nv - 1;
  const int c = jc * f + f - (n - 1);
  return c > f ? f : c;
}

// One output pixel (p, q) of image i for every channel: writes xi[ch * h * w + p * w + q].
RD_HD void jpeg_synthesis_pixel(const float* si, float* xi, const JpegGeom& g, JpegSynth mode, int p, int q) {
  float acc[3] = {0.0f, 0.0f, 0.0f};
  for (int kk = 0; kk < g.ncomp; ++kk) {
    const JpegComponentGeom& k = g.comp[kk];
    if (mode == JpegSynth::Decode) {
      const float v = si[jpeg_index(k, p / k.fy, q / k.fx)] - k.bias;
      for (int ch = 0; ch < g.c; ++ch) acc[ch] += k.back[ch] * v;
      continue;
    }
    int s0, s1, t0, t1;
    jpeg_axis_span(p, k.fy, g.h, k.rows, 8 * k.hb, &s0, &s1);
    jpeg_axis_span(q, k.fx, g.w, 8 * k.wb, 8 * k.wb, &t0, &t1);
    float sum = 0.0f;
    for (int s = s0; s < s1; ++s) {
      float row = 0.0f;
      for (int t = t0; t < t1; ++t) row += float(jpeg_axis_count(t, q, k.fx, g.w, 8 * k.wb)) * si[jpeg_index(k, s, t)];
      sum += float(jpeg_axis_count(s, p, k.fy, g.h, k.rows)) * row;
    }
    sum /= float(k.fx * k.fy);
    for (int ch = 0; ch < g.c; ++ch) acc[ch] += k.w[ch] * sum;
  }
  const int64_t hw = int64_t(g.h) * g.w, pix = int64_t(p) * g.w + q;
  for (int ch = 0; ch < g.c; ++ch) xi[ch * hw + pix] = acc[ch];
}

// Quantisation bins (QuantBinArgs): the nearest level's value, and the bin of a level value.
RD_HD float quant_level_value(float v, int levels) {
  float k = floorf((v + 1.0f) * 0.5f * float(levels) + 0.5f);
  k = fminf(fmaxf(k, 0.0f), float(levels));
  return 2.0f * k / float(levels) - 1.0f;
}
RD_HD void quant_bin(float centre, int levels, float* lo, float* hi) {
  const float k = floorf((centre + 1.0f) * 0.5f * float(levels) + 0.5f), half = 1.0f / float(levels);
  *lo = k <= 0.0f ? -3.0e38f : centre - half;
  *hi = k >= float(levels) ? 3.0e38f : centre + half;
}
RD_HD float quant_element(const QuantBinArgs& a, int64_t i) {
  const float v = a.x[i];
  if (a.epilogue == BinEpilogue::Round) return quant_level_value(v, a.levels);
  if (a.epilogue == BinEpilogue::None) return v;
  const float c = a.centre[i];
  float lo, hi;
  quant_bin(c, a.levels, &lo, &hi);
  return bin_epilogue(a.epilogue, v, c, lo, hi, a.in ? a.in[i] : 0.0f);
}

}  // namespace reddiff
