// JPEG restoration: the operator bound to a batch of JPEG files (operators/bins.h, docs/tasks.md).
//
// The forward map E (kernels/operator/jpeg.h) takes an image in [-1, 1] to its DCT coefficients the way
// the file was made: JFIF colour conversion, the file's chroma subsampling (box average), libjpeg's edge
// replication to the block grid, level shift, orthonormal 8x8 DCT; values in [-1, 1] units (libjpeg's F/127.5).
// With c = k q / 127.5 the dequantised coefficients (the bin centres) and d(x) = E(x) - clamp(E(x), c - q/255,
// c + q/255):
//   interval: apply A(x) = c + d(x);  vjp J^T r = E^T ([d != 0] r);  residual_vjp J^T (A(x) - y);
//             pinv = D(y), the decode chain (inverse DCT, nearest chroma upsampling, inverse colour), a right
//             inverse of E up to the edge padding. The measurement is [N, 1, 1, M] (M coefficients per image).
//   l2:       apply A(x) = D(round(E(x))) (libjpeg's rounding); vjp E^T D^T r (straight-through); pinv identity.
//             The measurement is the decoded image D(c), [N, C, H, W].
#include <algorithm>

#include "kernels/operator/jpeg.h"
#include "operators/bins.h"
#include "operators/op_impl.h"

namespace reddiff {
namespace {

constexpr float kScale = 127.5f;  // sample units per [-1, 1] unit

bool same_geometry(const JpegCoefficients& a, const JpegCoefficients& b) {
  if (a.width != b.width || a.height != b.height || a.color != b.color || a.comps.size() != b.comps.size())
    return false;
  for (size_t k = 0; k < a.comps.size(); ++k) {
    const JpegComponent &p = a.comps[k], &q = b.comps[k];
    if (p.h_samp != q.h_samp || p.v_samp != q.v_samp || p.width_in_blocks != q.width_in_blocks ||
        p.height_in_blocks != q.height_in_blocks)
      return false;
  }
  return true;
}

// 3x3 inverse in double (the colour matrices here are well conditioned).
void invert3(const double m[3][3], double inv[3][3]) {
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const int a0 = (j + 1) % 3, a1 = (j + 2) % 3, b0 = (i + 1) % 3, b1 = (i + 2) % 3;
      inv[i][j] = (m[a0][b0] * m[a1][b1] - m[a0][b1] * m[a1][b0]) / det;
    }
}

class JpegOperator final : public OperatorBase {
 public:
  JpegOperator(Shape4 x, Shape4 y, Backend& be, const JpegGeom& g, const std::vector<float>& centre,
               const std::vector<float>& steps, bool l2, std::string desc)
      : OperatorBase(x, y, be),
        g_(g),
        l2_(l2),
        desc_(std::move(desc)),
        centre_(DeviceBuffer::from_host(be, centre)),
        steps_(DeviceBuffer::from_host(be, steps)),
        work_(be, size_t(g.n) * size_t(g.m) * sizeof(float)) {}

  std::string describe() const override { return desc_; }
  bool is_linear() const override { return false; }

  void apply(const float* x, float* y, void* s) const override {
    if (!l2_) {
      analysis(x, y, JpegGather::Encode, BinEpilogue::Apply, nullptr, s);
      return;
    }
    analysis(x, work(), JpegGather::Encode, BinEpilogue::Round, nullptr, s);
    block_dct(work(), work(), true, s);
    synthesis(work(), y, JpegSynth::Decode, s);
  }
  void vjp(const float* x, const float* r, float* g, void* s) const override {
    if (!l2_)
      analysis(x, work(), JpegGather::Encode, BinEpilogue::Mask, r, s);
    else
      analysis(r, work(), JpegGather::DecodeAdjoint, BinEpilogue::None, nullptr, s);
    block_dct(work(), work(), true, s);
    synthesis(work(), g, JpegSynth::Adjoint, s);
  }
  void pinv(const float* y, float* x, void* s) const override {
    if (l2_) {
      copy(x, y, xs_.numel(), s);
      return;
    }
    block_dct(y, work(), true, s);
    synthesis(work(), x, JpegSynth::Decode, s);
  }
  void residual_vjp(const float* x, const float* y, float* g, void* s) const override {
    if (l2_) {
      OperatorBase::residual_vjp(x, y, g, s);
      return;
    }
    analysis(x, work(), JpegGather::Encode, BinEpilogue::Residual, y, s);
    block_dct(work(), work(), true, s);
    synthesis(work(), g, JpegSynth::Adjoint, s);
  }

 private:
  float* work() const { return work_.as<float>(); }
  void analysis(const float* x, float* out, JpegGather gather, BinEpilogue e, const float* in, void* s) const {
    JpegAnalysisArgs a;
    a.x = x;
    a.out = out;
    a.centre = centre_.as<float>();
    a.step = steps_.as<float>();
    a.in = in;
    a.g = g_;
    a.gather = gather;
    a.epilogue = e;
    ops_jpeg_analysis(dev_, a, s);
  }
  void block_dct(const float* in, float* out, bool inverse, void* s) const {
    JpegBlockDctArgs a;
    a.in = in;
    a.out = out;
    a.blocks = int64_t(g_.n) * (g_.m / 64);
    a.inverse = inverse;
    ops_jpeg_block_dct(dev_, a, s);
  }
  void synthesis(const float* samples, float* x, JpegSynth mode, void* s) const {
    JpegSynthesisArgs a;
    a.samples = samples;
    a.x = x;
    a.g = g_;
    a.mode = mode;
    ops_jpeg_synthesis(dev_, a, s);
  }

  JpegGeom g_;
  bool l2_;
  std::string desc_;
  DeviceBuffer centre_, steps_;
  mutable DeviceBuffer work_;
};

}  // namespace

JpegGeom jpeg_geometry(const JpegCoefficients& f, int channels) {
  const size_t nc = f.comps.size();
  if (nc != 1 && nc != 3) throw Error(f.name + ": JPEG with " + std::to_string(nc) + " components is not supported");
  if (f.color != JpegColor::Grey && channels != 3)
    throw Error(f.name + ": a colour JPEG needs 3 image channels, got " + std::to_string(channels));
  if (f.color == JpegColor::Grey && channels != 1 && channels != 3)
    throw Error(f.name + ": a grey JPEG takes 1 or 3 image channels, got " + std::to_string(channels));
  JpegGeom g;
  g.c = channels;
  g.h = f.height;
  g.w = f.width;
  g.ncomp = int(nc);
  int64_t off = 0;
  for (size_t k = 0; k < nc; ++k) {
    const JpegComponent& jc = f.comps[k];
    JpegComponentGeom& c = g.comp[k];
    c.fx = f.max_h / jc.h_samp;
    c.fy = f.max_v / jc.v_samp;
    c.wb = jc.width_in_blocks;
    c.hb = jc.height_in_blocks;
    c.rows = std::min((f.height + f.max_v - 1) / f.max_v * jc.v_samp, 8 * c.hb);
    c.offset = off;
    off += int64_t(c.wb) * c.hb * 64;
    if (c.wb <= 0 || c.hb <= 0 || int64_t(8) * c.wb * c.fx < f.width || int64_t(8) * c.hb * c.fy < f.height ||
        jc.coef.size() != size_t(c.wb) * c.hb * 64)
      throw Error(f.name + ": inconsistent JPEG block grid for component " + std::to_string(k));
  }
  g.m = off;
  const float shift = -0.5f / kScale;  // (127.5 - 128) / 127.5: the level shift of a weight-sum-1 row
  if (f.color == JpegColor::Grey) {
    JpegComponentGeom& c = g.comp[0];
    c.bias = shift;
    if (channels == 1) {
      c.w[0] = 1.0f;
      c.back[0] = 1.0f;
    } else {
      const float luma[3] = {0.299f, 0.587f, 0.114f};
      for (int ch = 0; ch < 3; ++ch) {
        c.w[ch] = luma[ch];
        c.back[ch] = 1.0f;
      }
    }
  } else if (f.color == JpegColor::RGB) {
    for (int k = 0; k < 3; ++k) {
      g.comp[k].w[k] = 1.0f;
      g.comp[k].back[k] = 1.0f;
      g.comp[k].bias = shift;
    }
  } else {
    // JFIF: Y = .299 R + .587 G + .114 B, Cb = (B - Y) / 1.772 + 128, Cr = (R - Y) / 1.402 + 128
    const double m[3][3] = {{0.299, 0.587, 0.114},
                            {-0.299 / 1.772, -0.587 / 1.772, (1 - 0.114) / 1.772},
                            {(1 - 0.299) / 1.402, -0.587 / 1.402, -0.114 / 1.402}};
    double inv[3][3];
    invert3(m, inv);
    for (int k = 0; k < 3; ++k) {
      for (int ch = 0; ch < 3; ++ch) {
        g.comp[k].w[ch] = float(m[k][ch]);
        g.comp[k].back[ch] = float(inv[ch][k]);
      }
      g.comp[k].bias = k == 0 ? shift : 0.0f;  // chroma rows sum to 0 and carry the +128 offset
    }
  }
  return g;
}

std::vector<float> jpeg_steps(const JpegCoefficients& f) {
  std::vector<float> s;
  for (const auto& c : f.comps)
    for (uint16_t q : c.quant) s.push_back(float(q) / kScale);
  return s;
}

std::vector<float> jpeg_dequantised(const JpegCoefficients& f) {
  std::vector<float> y;
  for (const auto& c : f.comps)
    for (size_t i = 0; i < c.coef.size(); ++i) y.push_back(float(c.coef[i]) * float(c.quant[i % 64]) / kScale);
  return y;
}

std::unique_ptr<Operator> make_jpeg_operator(const OperatorOptions& o, Shape4 x, Backend& be) {
  if (o.jpeg_files.empty())
    throw Error("jpeg: the operator needs its measured JPEG files (OperatorOptions::jpeg_files)");
  if (o.jpeg_files.size() != size_t(x.n))
    throw Error("jpeg: " + std::to_string(o.jpeg_files.size()) + " JPEG files for a batch of " + std::to_string(x.n) +
                    " images",
                1);
  for (const auto& f : o.jpeg_files)
    if (!f) throw Error("jpeg: missing JPEG file", 1);
  const JpegCoefficients& f0 = *o.jpeg_files[0];
  if (x.h != f0.height || x.w != f0.width)
    throw Error("jpeg: image size " + std::to_string(x.w) + "x" + std::to_string(x.h) + " does not match " + f0.name +
                    " (" + std::to_string(f0.width) + "x" + std::to_string(f0.height) + ")",
                1);
  for (const auto& f : o.jpeg_files)
    if (!same_geometry(f0, *f))
      throw Error("jpeg: " + f->name + " (" + f->describe() + ") cannot share a batch with " + f0.name + " (" +
                      f0.describe() + "): different size, colour or subsampling",
                  1);
  JpegGeom g = jpeg_geometry(f0, x.c);
  g.n = x.n;
  std::vector<float> centre, steps;
  for (const auto& f : o.jpeg_files) {
    const std::vector<float> c = jpeg_dequantised(*f), s = jpeg_steps(*f);
    centre.insert(centre.end(), c.begin(), c.end());
    steps.insert(steps.end(), s.begin(), s.end());
  }
  const bool l2 = o.data_term == "l2";
  std::string desc = "jpeg (" + f0.describe();
  if (x.n > 1) desc += ", and " + std::to_string(x.n - 1) + " more";
  if (f0.color == JpegColor::Grey && x.c == 3) desc += "; the data term constrains the luma";
  desc += l2 ? "; l2 data term: decoded image with straight-through rounding, pinv identity)"
             : "; interval data term: distance to the file's quantisation bins, pinv the inverse chain)";
  const Shape4 ys = l2 ? x : Shape4{x.n, 1, 1, int(g.m)};
  return std::make_unique<JpegOperator>(x, ys, be, g, centre, steps, l2, desc);
}

}  // namespace reddiff
