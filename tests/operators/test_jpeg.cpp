// The jpeg operator and the JPEG file layer against libjpeg itself: the operator's coefficients of an image
// equal the ones libjpeg's encoder stores for it (apart from rounding at bin edges, reported), its linear
// parts satisfy the adjoint identities, the data term's gradient matches finite differences, images driven
// by the data term re-encode into the file's bins, and every kind of file is read or refused in one line.
// PIL-made files (tests/python/gen_jpeg_cases.py) give an independent encoder and decoder.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/npy.h"
#include "kernels/operator/jpeg.h"
#include "operators/bins.h"
#include "operators/jpeg_file.h"
#include "operators/svd.h"
#include "solvers/ddrm_solver.h"
#include "tests/operators/op_test_util.h"

using namespace reddiff;
using namespace reddiff::test;

namespace {

std::string cases_dir() { return testdata("jpeg_cases"); }

// A photo-like test image, [c, h, w] in [-1, 1] on the 8-bit grid: a few random waves, an edge and noise.
std::vector<float> test_image(int c, int h, int w, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(size_t(c) * h * w);
  for (int ch = 0; ch < c; ++ch) {
    float fx[3], fy[3], ph[3], amp[3];
    for (int k = 0; k < 3; ++k) fx[k] = 0.5f * u(g), fy[k] = 0.5f * u(g), ph[k] = 6.3f * u(g), amp[k] = 0.3f * u(g);
    const float edge = 0.5f * u(g) - 0.25f;
    for (int p = 0; p < h; ++p)
      for (int q = 0; q < w; ++q) {
        float v = 0.1f * (u(g) - 0.5f) + (q > w / 2 ? edge : -edge);
        for (int k = 0; k < 3; ++k) v += amp[k] * std::sin(fx[k] * q + fy[k] * p + ph[k]);
        v = std::max(-1.0f, std::min(1.0f, v));
        x[(size_t(ch) * h + p) * w + q] = std::floor((v + 1.0f) * 127.5f + 0.5f) / 127.5f - 1.0f;
      }
  }
  return x;
}

JpegEncodeOptions enc(int quality, const std::string& sub) {
  JpegEncodeOptions o;
  o.quality = quality;
  o.subsampling = sub;
  return o;
}

JpegCoefficients encode_read(const std::vector<float>& x, int c, int h, int w, const JpegEncodeOptions& o) {
  const std::vector<uint8_t> bytes = encode_jpeg(x.data(), c, h, w, o);
  return read_jpeg_memory(bytes.data(), bytes.size());
}

JpegGeom geom(const JpegCoefficients& f, int c) {
  JpegGeom g = jpeg_geometry(f, c);
  g.n = 1;
  return g;
}

// The kernels' maps on the CPU for one image.
std::vector<float> analysis(const JpegGeom& g, const std::vector<float>& x, JpegGather gather) {
  std::vector<float> out(size_t(g.m));
  JpegAnalysisArgs a;
  a.x = x.data();
  a.out = out.data();
  a.g = g;
  a.gather = gather;
  ops_jpeg_analysis(Device::CPU, a, nullptr);
  return out;
}
std::vector<float> synthesis(const JpegGeom& g, const std::vector<float>& coef, JpegSynth mode) {
  std::vector<float> s(coef.size()), x(size_t(g.c) * g.h * g.w);
  JpegBlockDctArgs d;
  d.in = coef.data();
  d.out = s.data();
  d.blocks = g.m / 64;
  d.inverse = true;
  ops_jpeg_block_dct(Device::CPU, d, nullptr);
  JpegSynthesisArgs a;
  a.samples = s.data();
  a.x = x.data();
  a.g = g;
  a.mode = mode;
  ops_jpeg_synthesis(Device::CPU, a, nullptr);
  return x;
}
std::vector<float> sub(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

// How the operator's rounding of E(x) compares with the file's stored coefficients. libjpeg rounds every
// colour-converted and downsampled sample to an integer (and its ISLOW DCT rounds too), so a coefficient
// whose exact value lies near a bin edge can land one bin over; such a difference is "rounding at a bin
// edge" when the exact F lies within a few sample levels of the file's bin (8 x 0.5 levels: a DC term
// collects the rounding of 64 samples coherently, at 1/8 each).
struct Agreement {
  int64_t total = 0, differ = 0;
  double worst = 0.0;  // largest distance (sample levels) of the operator's F to the file's bin
  double fraction() const { return double(differ) / double(std::max<int64_t>(total, 1)); }
};
constexpr double kEdgeLevels = 4.0;
Agreement agreement(const JpegCoefficients& f, const std::vector<float>& x, int c) {
  const JpegGeom g = geom(f, c);
  const std::vector<float> F = analysis(g, x, JpegGather::Encode);
  Agreement a;
  for (int k = 0; k < g.ncomp; ++k) {
    const JpegComponent& comp = f.comps[size_t(k)];
    for (size_t i = 0; i < comp.coef.size(); ++i) {
      const double q = comp.quant[i % 64], v = double(F[size_t(g.comp[k].offset) + i]) * 127.5, t = v / q;
      const int ours = int(t < 0 ? -std::floor(-t + 0.5) : std::floor(t + 0.5)), file = comp.coef[i];
      ++a.total;
      if (ours == file) continue;
      ++a.differ;
      const double lo = (file - 0.5) * q, hi = (file + 0.5) * q;
      a.worst = std::max(a.worst, v < lo ? lo - v : v - hi);
    }
  }
  return a;
}

OperatorOptions jpeg_options(std::vector<JpegCoefficients> files, const std::string& data_term = "interval") {
  OperatorOptions o;
  o.task = "jpeg";
  o.data_term = data_term;
  for (auto& f : files) o.jpeg_files.push_back(std::make_shared<const JpegCoefficients>(std::move(f)));
  return o;
}

double half_sq(const std::vector<float>& a, const std::vector<float>& y) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += 0.5 * (double(a[i]) - y[i]) * (double(a[i]) - y[i]);
  return s;
}

// Error thrown by f: its exit code and message (one line).
template <typename F>
std::pair<int, std::string> error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.exit_code(), e.what()};
  }
  return {0, ""};
}

struct Geometry {
  std::string sub;  // 444|422|420|grey
  int c, h, w;
};
std::vector<Geometry> geometries() {
  return {{"420", 3, 23, 37},  {"420", 3, 1, 1},  {"420", 3, 32, 16}, {"420", 3, 9, 17},
          {"422", 3, 23, 37},  {"422", 3, 1, 1},  {"444", 3, 23, 37}, {"444", 3, 1, 1},
          {"grey", 1, 23, 37}, {"grey", 1, 1, 1}, {"grey", 3, 23, 37}};
}
JpegCoefficients file_for(const Geometry& g, int quality, uint32_t seed) {
  const int fc = g.sub == "grey" ? 1 : 3;
  return encode_read(test_image(fc, g.h, g.w, seed), fc, g.h, g.w, enc(quality, g.sub == "grey" ? "420" : g.sub));
}
std::string label(const Geometry& g) {
  return g.sub + " " + std::to_string(g.w) + "x" + std::to_string(g.h) + " c" + std::to_string(g.c);
}

}  // namespace

TEST_CASE("jpeg: the DCT basis is the orthonormal DCT-II of T.81", "[jpeg]") {
  // F(u,v) = 1/4 C(u) C(v) sum f(x,y) cos((2x+1)u pi/16) cos((2y+1)v pi/16) in double, against the kernel
  const auto b = random_vec(64, 3, -100.0f, 100.0f);
  std::vector<float> out(64), back(64);
  JpegBlockDctArgs a;
  a.in = b.data();
  a.out = out.data();
  a.blocks = 1;
  ops_jpeg_block_dct(Device::CPU, a, nullptr);
  const double pi = std::acos(-1.0);
  for (int u = 0; u < 8; ++u)
    for (int v = 0; v < 8; ++v) {
      double s = 0;
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 8; ++j)
          s += b[size_t(i * 8 + j)] * std::cos((2 * i + 1) * u * pi / 16) * std::cos((2 * j + 1) * v * pi / 16);
      s *= 0.25 * (u ? 1 : 1 / std::sqrt(2.0)) * (v ? 1 : 1 / std::sqrt(2.0));
      CHECK(std::fabs(out[size_t(u * 8 + v)] - s) < 1e-3);
    }
  a.in = out.data();
  a.out = back.data();
  a.inverse = true;
  ops_jpeg_block_dct(Device::CPU, a, nullptr);
  CHECK(max_abs_diff(back, b) < 1e-3);
}

TEST_CASE("jpeg: the operator's coefficients are libjpeg's, apart from rounding at bin edges", "[jpeg]") {
  // Every difference must be rounding at a bin edge (the exact F within kEdgeLevels of the file's bin); the
  // fraction of such coefficients is reported: under 1 % up to quality 75 (over 0.5 % in all), more at 90,
  // where the steps (2-3 levels) are near libjpeg's own sample rounding.
  const NpyArray photo = read_npy(cases_dir() + "/photo.npy");
  const int ph = int(photo.shape[1]), pw = int(photo.shape[2]);
  std::vector<float> grey(size_t(ph) * pw);
  for (size_t i = 0; i < grey.size(); ++i)
    grey[i] = std::floor((0.299f * photo.data[i] + 0.587f * photo.data[grey.size() + i] +
                          0.114f * photo.data[2 * grey.size() + i] + 1.0f) *
                             127.5f +
                         0.5f) /
                  127.5f -
              1.0f;
  int64_t total = 0, differ = 0;
  std::printf("jpeg coefficients vs libjpeg (islow DCT): coefficients one bin over at a bin edge\n");
  for (const std::string s : {"444", "422", "420", "grey"}) {
    std::string line;
    for (int q : {10, 30, 50, 75, 90}) {
      const int c = s == "grey" ? 1 : 3;
      struct Img {
        std::vector<float> x;
        int h, w;
      };
      for (const Img& img : {Img{c == 1 ? grey : photo.data, ph, pw}, Img{test_image(c, 23, 37, uint32_t(q)), 23, 37},
                             Img{test_image(c, 1, 1, uint32_t(q)), 1, 1}}) {
        const JpegCoefficients f = encode_read(img.x, c, img.h, img.w, enc(q, s == "grey" ? "420" : s));
        const Agreement a = agreement(f, img.x, c);
        INFO(s << " q" << q << " " << img.w << "x" << img.h << ": " << a.differ << " of " << a.total
               << " differ, worst " << a.worst << " levels from the file's bin");
        CHECK(a.worst <= kEdgeLevels);
        if (img.h > 1) CHECK(a.fraction() < (q <= 75 ? 0.01 : 0.03));
        if (q <= 75) total += a.total, differ += a.differ;
        if (img.h == ph) {
          char b[64];
          std::snprintf(b, sizeof b, "  q%d %.2f%%", q, 100.0 * a.fraction());
          line += b;
        }
      }
    }
    std::printf("  %-4s photo %dx%d:%s\n", s.c_str(), pw, ph, line.c_str());
  }
  std::printf("  qualities 10-75, all images: %.3f%% of %lld coefficients\n", 100.0 * double(differ) / double(total),
              (long long)total);
  CHECK(double(differ) / double(total) < 0.005);
}

TEST_CASE("jpeg: PIL's files hold the operator's coefficients, and reddiff decodes them as PIL does", "[jpeg]") {
  std::ifstream f(cases_dir() + "/cases.json");
  REQUIRE(f);  // generated by the ref_jpeg_cases fixture
  nlohmann::json cases;
  f >> cases;
  REQUIRE(cases.size() == 5);
  for (const auto& c : cases) {
    const std::string name = c["name"];
    SECTION(name) {
      const std::string path = cases_dir() + "/" + name + ".jpg";
      if (c["colour"] == "CMYK") {
        const auto e = error_of([&] { read_jpeg_file(path); });
        CHECK(e.first == 2);
        CHECK(e.second.find("CMYK JPEG files are not supported") != std::string::npos);
        CHECK(e.second.find('\n') == std::string::npos);
        CHECK(error_of([&] { decode_jpeg_file(path); }).first == 2);
        continue;
      }
      const JpegCoefficients jf = read_jpeg_file(path);
      const int ch = c["channels"];
      CHECK(jf.progressive == c["progressive"].get<bool>());
      CHECK(jf.estimated_quality() == c["quality"].get<int>());
      if (ch == 3) CHECK(jf.subsampling() == std::string(c["subsampling"]).insert(1, ":").insert(3, ":"));
      const NpyArray src = read_npy(cases_dir() + "/" + name + "_source.npy");
      const Agreement a = agreement(jf, src.data, ch);
      INFO(jf.describe() << ": " << a.differ << " of " << a.total << " differ, worst " << a.worst);
      CHECK(a.worst <= kEdgeLevels);
      CHECK(a.fraction() < 0.01);
      const NpyArray dec = read_npy(cases_dir() + "/" + name + "_decoded.npy");
      const DecodedJpeg d = decode_jpeg_file(path);
      CHECK(d.c == ch);
      REQUIRE(d.data.size() == dec.data.size());
      CHECK(max_abs_diff(d.data, dec.data) < 1e-6);
    }
  }
}

TEST_CASE("jpeg: adjoint identities of the linear parts, and decode inverts encode", "[jpeg][adjoint]") {
  for (const Geometry& gm : geometries()) {
    SECTION(label(gm)) {
      const JpegCoefficients f = file_for(gm, 50, 7);
      const JpegGeom g = geom(f, gm.c);
      const size_t nx = size_t(gm.c) * gm.h * gm.w, nm = size_t(g.m);
      const std::vector<float> zero_x(nx, 0.0f), zero_c(nm, 0.0f);
      for (uint32_t seed : {1u, 2u}) {
        const auto x = random_vec(nx, seed), r = random_vec(nm, seed + 10);
        // encode: E_lin x = E(x) - E(0); E^T r = synthesis(Adjoint, IDCT r)
        const auto ex = sub(analysis(g, x, JpegGather::Encode), analysis(g, zero_x, JpegGather::Encode));
        const auto etr = synthesis(g, r, JpegSynth::Adjoint);
        CHECK(std::fabs(dot(ex, r) - dot(x, etr)) <= 1e-5 * norm(ex) * norm(r) + 1e-6 * norm(x) * norm(etr));
        // decode: D_lin c = D(c) - D(0); D^T z = DCT of the DecodeAdjoint gather
        const auto c = random_vec(nm, seed + 20), z = random_vec(nx, seed + 30);
        const auto dc = sub(synthesis(g, c, JpegSynth::Decode), synthesis(g, zero_c, JpegSynth::Decode));
        const auto dtz = analysis(g, z, JpegGather::DecodeAdjoint);
        CHECK(std::fabs(dot(dc, z) - dot(c, dtz)) <= 1e-5 * norm(dc) * norm(z) + 1e-6 * norm(c) * norm(dtz));
      }
      // D(E(x)) = x when nothing is subsampled: the decode chain inverts the encode chain
      if (gm.sub == "444" || (gm.sub == "grey" && gm.c == 1)) {
        const auto x = random_vec(nx, 5);
        CHECK(max_abs_diff(synthesis(g, analysis(g, x, JpegGather::Encode), JpegSynth::Decode), x) < 1e-5);
      }
      // E(D(c)) = c on whole blocks/MCUs (no edge padding to redo): D is a right inverse of E
      const int mcu_w = 8 * f.max_h, mcu_h = 8 * f.max_v;
      if (gm.w % mcu_w == 0 && gm.h % mcu_h == 0 && !(gm.sub == "grey" && gm.c == 3)) {
        const auto c = random_vec(nm, 6);
        CHECK(max_abs_diff(analysis(g, synthesis(g, c, JpegSynth::Decode), JpegGather::Encode), c) < 1e-4);
      }
    }
  }
}

TEST_CASE("jpeg: the interval data term's gradient matches finite differences", "[jpeg][gradient]") {
  for (const Geometry& gm : geometries()) {
    SECTION(label(gm)) {
      const JpegCoefficients f = file_for(gm, 30, 11);
      const Shape4 xs{1, gm.c, gm.h, gm.w};
      const OperatorOptions o = jpeg_options({f});
      auto A = make_operator(o, xs, {}, reddiff_test::cpu_backend());
      const std::vector<float> y = bound_measurement(o, xs);
      REQUIRE(int64_t(y.size()) == A->measurement_shape().numel());
      // a point with many coefficients outside their bins
      std::vector<float> x = op_pinv(*A, y);
      const auto noise = random_vec(x.size(), 3, -0.2f, 0.2f);
      for (size_t i = 0; i < x.size(); ++i) x[i] += noise[i];
      std::vector<float> g(x.size());
      A->residual_vjp(x.data(), y.data(), g.data());
      // residual_vjp = vjp(x, A(x) - y)
      CHECK(max_abs_diff(g, op_vjp(*A, x, sub(op_apply(*A, x), y))) <= 1e-6 * std::max(1.0, max_abs(g)));
      const auto d = random_vec(x.size(), 4);
      const double eps = 1e-3;
      std::vector<float> xp = x, xm = x;
      for (size_t i = 0; i < x.size(); ++i) xp[i] += float(eps) * d[i], xm[i] -= float(eps) * d[i];
      const double fd = (half_sq(op_apply(*A, xp), y) - half_sq(op_apply(*A, xm), y)) / (2 * eps), an = dot(g, d);
      INFO("finite difference " << fd << ", gradient " << an << ", loss " << half_sq(op_apply(*A, x), y));
      CHECK(half_sq(op_apply(*A, x), y) > 0.0);
      CHECK(std::fabs(fd - an) <= 2e-3 * std::fabs(an) + 1e-5);
      // inside every bin the data term vanishes: at the bin centres (pinv, exact on whole MCUs) A(x) = y, g = 0
      if (gm.w % (8 * f.max_h) == 0 && gm.h % (8 * f.max_v) == 0) {
        const auto x0 = op_pinv(*A, y);
        CHECK(max_abs_diff(op_apply(*A, x0), y) < 1e-5);
        A->residual_vjp(x0.data(), y.data(), g.data());
        CHECK(max_abs(g) == 0.0);
      }
    }
  }
}

TEST_CASE("jpeg: l2 data term is the official formulation with straight-through rounding", "[jpeg][gradient]") {
  const Geometry gm{"420", 3, 23, 37};
  const JpegCoefficients f = file_for(gm, 30, 12);
  const Shape4 xs{1, 3, gm.h, gm.w};
  const OperatorOptions o = jpeg_options({f}, "l2");
  auto A = make_operator(o, xs, {}, reddiff_test::cpu_backend());
  REQUIRE(A->measurement_shape() == xs);
  const std::vector<float> y = bound_measurement(o, xs);
  const JpegGeom g = geom(f, 3);
  // y is the decoded image D(c); A(x) = D(round(E(x))); pinv is the identity
  CHECK(max_abs_diff(y, synthesis(g, jpeg_dequantised(f), JpegSynth::Decode)) < 1e-6);
  CHECK(max_abs_diff(op_pinv(*A, y), y) == 0.0);
  const auto x = test_image(3, gm.h, gm.w, 12);  // the image the file was made from
  const auto ax = op_apply(*A, x);
  // apply on the source image is its decoded JPEG except where a coefficient rounds one bin over (each such
  // coefficient moves a block by q/127.5 in the DCT basis)
  CHECK(norm(sub(ax, y)) <= 0.05 * norm(y));
  // vjp = (D_lin E_lin)^T r: <D_lin E_lin v, r> = <v, vjp(x, r)>
  const auto v = random_vec(x.size(), 1), r = random_vec(x.size(), 2);
  const std::vector<float> zx(x.size(), 0.0f);
  const auto e = sub(analysis(g, v, JpegGather::Encode), analysis(g, zx, JpegGather::Encode));
  const std::vector<float> zc(e.size(), 0.0f);
  const auto de = sub(synthesis(g, e, JpegSynth::Decode), synthesis(g, zc, JpegSynth::Decode));
  const auto vr = op_vjp(*A, x, r);
  CHECK(std::fabs(dot(de, r) - dot(v, vr)) <= 1e-5 * norm(de) * norm(r));
  std::vector<float> gr(x.size());
  A->residual_vjp(x.data(), y.data(), gr.data());
  CHECK(max_abs_diff(gr, op_vjp(*A, x, sub(ax, y))) <= 1e-6);
}

TEST_CASE("jpeg: images driven by the data term re-encode into the file's bins", "[jpeg]") {
  // a crop of whole 4:2:0 MCUs, so that plain gradient descent with one step size is stable (edge pixels
  // that libjpeg replicates into many samples would need a smaller step)
  const NpyArray full = read_npy(cases_dir() + "/photo.npy");
  const int fh = int(full.shape[1]), fw = int(full.shape[2]), h = 64, w = 80;
  REQUIRE(fh >= h);
  REQUIRE(fw >= w);
  std::vector<float> photo(size_t(3) * h * w);
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < h; ++p)
      for (int q = 0; q < w; ++q) photo[(size_t(c) * h + p) * w + q] = full.data[(size_t(c) * fh + p) * fw + q];
  const Shape4 xs{1, 3, h, w};
  std::printf("jpeg: re-encoded with the file's tables, fraction of coefficients in the file's bins\n");
  for (int q : {10, 30, 75}) {
    const std::vector<uint8_t> bytes = encode_jpeg(photo.data(), 3, h, w, enc(q, "420"));
    const JpegCoefficients f = read_jpeg_memory(bytes.data(), bytes.size());
    const OperatorOptions o = jpeg_options({f});
    auto A = make_operator(o, xs, {}, reddiff_test::cpu_backend());
    const std::vector<float> y = bound_measurement(o, xs);
    // bins_kept_fraction re-encodes with the file's tables and subsampling; checked here against a re-encoding
    // written out in full
    const JpegEncodeOptions re = jpeg_encode_options_like(f);
    CHECK(re.subsampling == "420");
    REQUIRE(re.tables.size() == 2);
    CHECK(re.tables[0] == f.comps[0].quant);
    CHECK(re.tables[1] == f.comps[1].quant);
    auto reencode = [&](const std::vector<float>& x) {
      const std::vector<uint8_t> b = encode_jpeg(x.data(), 3, h, w, re);
      const JpegCoefficients again = read_jpeg_memory(b.data(), b.size());
      int64_t total = 0, same = 0;
      for (size_t k = 0; k < f.comps.size(); ++k)
        for (size_t i = 0; i < f.comps[k].coef.size(); ++i)
          ++total, same += again.comps[k].coef[i] == f.comps[k].coef[i];
      const double frac = double(same) / double(total);
      CHECK(bins_kept_fraction(o, xs, 0, x.data()) == frac);
      return frac;
    };
    // libjpeg's decoded image (fancy upsampling, 8-bit) and the operator's pinv
    const DecodedJpeg dec = decode_jpeg_memory(bytes.data(), bytes.size());
    const double decoded = reencode(dec.data), pinv = reencode(op_pinv(*A, y));
    // gradient descent on the interval data term from the decoded image plus noise: the images the data term
    // accepts are the ones the file describes
    std::vector<float> x = dec.data, gr(x.size());
    const auto noise = random_vec(x.size(), 9, -0.1f, 0.1f);
    for (size_t i = 0; i < x.size(); ++i) x[i] += noise[i];
    const double start = reencode(x), loss0 = half_sq(op_apply(*A, x), y);
    for (int it = 0; it < 60; ++it) {
      A->residual_vjp(x.data(), y.data(), gr.data());
      for (size_t i = 0; i < x.size(); ++i) x[i] -= 1.5f * gr[i];
    }
    const double loss = half_sq(op_apply(*A, x), y), descended = reencode(x);
    std::printf(
        "  q%-3d decoded JPEG %.4f, pinv %.4f, decoded+noise %.4f -> after 60 data-term steps %.4f (loss %.3g -> "
        "%.3g)\n",
        q, decoded, pinv, start, descended, loss0, loss);
    // the data term's minimisers sit on the bins' edges, where re-encoding's 8-bit rounding lands about
    // half the moved coefficients one bin over; the operator's own (exact) coefficients are all inside
    CHECK(pinv > 0.99);
    CHECK(decoded > 0.98);
    CHECK(loss < 1e-6 * loss0);
    CHECK(descended >= start);
  }
}

TEST_CASE("jpeg: progressive, restart-marker and arithmetic-coded files hold the same coefficients", "[jpeg]") {
  const int h = 23, w = 37;
  const auto x = test_image(3, h, w, 21);
  const JpegCoefficients base = encode_read(x, 3, h, w, enc(30, "420"));
  CHECK_FALSE(base.progressive);
  auto variant = [&](auto set) {
    JpegEncodeOptions o = enc(30, "420");
    set(o);
    return encode_read(x, 3, h, w, o);
  };
  const JpegCoefficients prog = variant([](JpegEncodeOptions& o) { o.progressive = true; });
  const JpegCoefficients rst1 = variant([](JpegEncodeOptions& o) { o.restart_interval = 1; });
  const JpegCoefficients rst3 = variant([](JpegEncodeOptions& o) {
    o.restart_interval = 3;
    o.progressive = true;
  });
  const JpegCoefficients arith = variant([](JpegEncodeOptions& o) { o.arithmetic = true; });
  CHECK(prog.progressive);
  CHECK(rst1.restart_interval == 1);
  CHECK(rst3.restart_interval == 3);
  CHECK(arith.arithmetic);
  for (const JpegCoefficients* v : {&prog, &rst1, &rst3, &arith}) {
    INFO(v->describe());
    REQUIRE(v->comps.size() == 3);
    for (size_t k = 0; k < 3; ++k) {
      CHECK(v->comps[k].coef == base.comps[k].coef);
      CHECK(v->comps[k].quant == base.comps[k].quant);
    }
  }
  // an extended-sequential file (16-bit tables, SOF1) keeps its tables and is modelled alike
  JpegEncodeOptions eo = enc(50, "420");
  eo.tables.resize(2);
  for (int i = 0; i < 64; ++i)
    eo.tables[0][size_t(i)] = uint16_t(3 + 20 * i), eo.tables[1][size_t(i)] = uint16_t(5 + 40 * i);
  const JpegCoefficients ext = encode_read(x, 3, h, w, eo);
  CHECK(ext.comps[0].quant == eo.tables[0]);
  CHECK(ext.comps[2].quant == eo.tables[1]);
  CHECK(agreement(ext, x, 3).worst <= kEdgeLevels);
  // an RGB-colour-space file (no colour transform) is read and modelled too
  JpegEncodeOptions ro = enc(50, "444");
  ro.rgb = true;
  const JpegCoefficients rgb = encode_read(x, 3, h, w, ro);
  CHECK(rgb.color == JpegColor::RGB);
  const Agreement a = agreement(rgb, x, 3);
  CHECK(a.worst <= kEdgeLevels);
  CHECK(a.fraction() < 0.01);
}

TEST_CASE("jpeg: unsupported and damaged files give one line and exit status 2", "[jpeg][errors]") {
  const int h = 40, w = 48;
  const auto x = test_image(3, h, w, 31);
  const std::vector<uint8_t> good = encode_jpeg(x.data(), 3, h, w, enc(50, "420"));
  auto check_refused = [](const std::vector<uint8_t>& b, const std::string& expect) {
    const auto e = error_of([&] { read_jpeg_memory(b.data(), b.size(), "in.jpg"); });
    INFO(e.second);
    CHECK(e.first == 2);
    CHECK(e.second.find('\n') == std::string::npos);
    CHECK(e.second.rfind("in.jpg: ", 0) == 0);
    CHECK(e.second.find(expect) != std::string::npos);
    CHECK(error_of([&] { decode_jpeg_memory(b.data(), b.size(), "in.jpg"); }).first == 2);
  };
  SECTION("truncated") {
    check_refused(std::vector<uint8_t>(good.begin(), good.begin() + ptrdiff_t(good.size() / 2)),
                  "Premature end of JPEG file");
    check_refused(std::vector<uint8_t>(good.begin(), good.begin() + 100), "Premature end of JPEG file");
    check_refused(std::vector<uint8_t>(good.begin(), good.begin() + 2), "not a JPEG file");
  }
  SECTION("corrupt entropy-coded data") {
    std::vector<uint8_t> bad = good;
    size_t i = 2;  // walk the markers to the scan
    while (i + 4 < bad.size() && !(bad[i] == 0xFF && bad[i + 1] == 0xDA))
      i += 2 + ((size_t(bad[i + 2]) << 8) | bad[i + 3]);
    REQUIRE(bad[i + 1] == 0xDA);
    const size_t start = i + 2 + ((size_t(bad[i + 2]) << 8) | bad[i + 3]), mid = start + (bad.size() - start) / 2;
    bad[mid] = 0xFF;  // an unexpected restart marker inside the entropy-coded data
    bad[mid + 1] = 0xD3;
    check_refused(bad, "Corrupt JPEG data");
  }
  SECTION("not a JPEG") {
    const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0};
    check_refused(png, "Not a JPEG file");
  }
  SECTION("12-bit precision") {
    std::vector<uint8_t> b = good;
    size_t i = 2;
    while (i + 4 < b.size() && !(b[i] == 0xFF && b[i + 1] == 0xC0)) i += 2 + ((size_t(b[i + 2]) << 8) | b[i + 3]);
    REQUIRE(b[i + 1] == 0xC0);
    b[i + 4] = 12;  // SOF0's sample precision
    check_refused(b, "Unsupported JPEG data precision 12");
  }
  SECTION("missing file") {
    const auto e = error_of([] { read_jpeg_file(testdata("no/such/file.jpg")); });
    CHECK(e.first == 2);
    CHECK(e.second.find("cannot open") != std::string::npos);
  }
}

TEST_CASE("jpeg: an image of 1x1 pixels restores through the operator", "[jpeg]") {
  for (const std::string s : {"420", "422", "444"}) {
    const auto x = test_image(3, 1, 1, 41);
    const JpegCoefficients f = encode_read(x, 3, 1, 1, enc(20, s));
    CHECK(f.width == 1);
    CHECK(f.height == 1);
    const Shape4 xs{1, 3, 1, 1};
    const OperatorOptions o = jpeg_options({f});
    auto A = make_operator(o, xs, {}, reddiff_test::cpu_backend());
    const std::vector<float> y = bound_measurement(o, xs);
    const auto p = op_pinv(*A, y);
    // one pixel is constant over the block: its DCT has only DC terms, so pinv restores it to a DC step
    // (a sample is DC / 8: off by at most q / 16 levels per component, mixed by the inverse colour matrix)
    const double qmax = std::max(f.comps[0].quant[0], f.comps[1].quant[0]);
    CHECK(max_abs_diff(p, x) <= 3.0 * qmax / 16.0 / 127.5 + 1e-5);
    std::vector<float> g(3);
    A->residual_vjp(p.data(), y.data(), g.data());
    CHECK(max_abs(g) < 1e-6);
  }
}

TEST_CASE("jpeg: batches, option checks, and DDRM's refusal", "[jpeg]") {
  const auto x1 = test_image(3, 23, 37, 51), x2 = test_image(3, 23, 37, 52);
  const JpegCoefficients a = encode_read(x1, 3, 23, 37, enc(30, "420")), b = encode_read(x2, 3, 23, 37, enc(60, "420"));
  const Shape4 xs{2, 3, 23, 37};
  // a batch of two files with different tables equals the two operators one by one
  const OperatorOptions ob = jpeg_options({a, b});
  auto AB = make_operator(ob, xs, {}, reddiff_test::cpu_backend());
  const auto yb = bound_measurement(ob, xs);
  auto x = x1;
  x.insert(x.end(), x2.begin(), x2.end());
  const auto noise = random_vec(x.size(), 5, -0.1f, 0.1f);
  for (size_t i = 0; i < x.size(); ++i) x[i] += noise[i];
  std::vector<float> gb(x.size());
  AB->residual_vjp(x.data(), yb.data(), gb.data());
  const Shape4 x1s{1, 3, 23, 37};
  size_t off = 0;
  for (const JpegCoefficients* f : {&a, &b}) {
    const OperatorOptions o = jpeg_options({*f});
    auto A = make_operator(o, x1s, {}, reddiff_test::cpu_backend());
    const auto y = bound_measurement(o, x1s);
    const std::vector<float> xi(x.begin() + ptrdiff_t(off), x.begin() + ptrdiff_t(off + x1.size()));
    std::vector<float> g(xi.size());
    A->residual_vjp(xi.data(), y.data(), g.data());
    CHECK(max_abs_diff(g, std::vector<float>(gb.begin() + ptrdiff_t(off), gb.begin() + ptrdiff_t(off + g.size()))) ==
          0.0);
    off += x1.size();
  }
  // mismatches are one-line errors
  const JpegCoefficients c444 = encode_read(x1, 3, 23, 37, enc(30, "444"));
  CHECK(error_of([&] {
          make_operator(jpeg_options({a, c444}), xs, {}, reddiff_test::cpu_backend());
        }).second.find("cannot share a batch") != std::string::npos);
  CHECK(error_of([&] { make_operator(jpeg_options({a}), xs, {}, reddiff_test::cpu_backend()); }).first != 0);
  CHECK(error_of([&] {
          make_operator(jpeg_options({a}), Shape4{1, 3, 24, 37}, {}, reddiff_test::cpu_backend());
        }).first != 0);
  CHECK(error_of([&] {
          make_operator(jpeg_options({a}), Shape4{1, 1, 23, 37}, {}, reddiff_test::cpu_backend());
        }).second.find("3 image channels") != std::string::npos);
  // the command-line options
  CHECK(options_for("jpeg", {}).data_term == "l2");  // the default: it won the sweep (docs/tasks.md)
  CHECK(options_for("quant", {}).data_term == "l2");
  CHECK(options_for("jpeg", {"--data-term", "interval"}).data_term == "interval");
  CHECK_THROWS_WITH(options_for("jpeg", {"--data-term", "l1"}), Catch::Contains("--data-term: unknown value 'l1'"));
  CHECK_THROWS_WITH(options_for("jpeg", {"--compose", "deblur"}), Catch::Contains("takes no composition"));
  // DDRM has no SVD of these operators
  for (const std::string t : {"jpeg", "quant"}) {
    OperatorOptions o;
    o.task = t;
    std::string why;
    CHECK_FALSE(ddrm_supported(o, &why));
    CHECK(why.find(t + " is not linear") != std::string::npos);
  }
  // descriptions
  CHECK(a.describe() == "37x23 YCbCr 4:2:0, sequential, quality ~30");
  CHECK(AB->describe().find("interval data term") != std::string::npos);
}
