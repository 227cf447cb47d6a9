// Every CUDA kernel twin of kernels/network/{group_norm,attention,embedding,resample}.h against its CPU twin
// on random non-zero inputs, in f32, f16 and bf16. Outputs are poisoned (all bits set: NaN in every
// float format) on both sides before the call, so an element either twin fails to write is caught.
// REDDIFF_GPU_QUICK=1 (used under compute-sanitizer) drops the large cases.
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "kernels/network/attention.h"
#include "kernels/network/embedding.h"
#include "kernels/network/group_norm.h"
#include "kernels/network/resample.h"
#include "test_util.h"

using namespace reddiff;

namespace {

bool quick() {
  const char* q = std::getenv("REDDIFF_GPU_QUICK");
  return q && *q && std::strcmp(q, "0") != 0;
}

// Device buffer owned by a test.
struct Dev {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Dev(size_t b) : bytes(b) {
    if (b) REQUIRE(cudaMalloc(&p, b) == cudaSuccess);
  }
  ~Dev() {
    if (p) cudaFree(p);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  void poison() {
    if (bytes) REQUIRE(cudaMemset(p, 0xFF, bytes) == cudaSuccess);
  }
  void put(const void* h) {
    if (bytes) REQUIRE(cudaMemcpy(p, h, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<uint8_t> get() const {
    std::vector<uint8_t> h(bytes);
    if (bytes) REQUIRE(cudaMemcpy(h.data(), p, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

// A host tensor stored in dtype.
struct Host {
  DType dt = DType::F32;
  size_t n = 0;
  std::vector<uint8_t> b;
  Host() = default;
  Host(DType d, size_t count) : dt(d), n(count), b(count * dtype_size(d), 0xFF) {}  // poisoned
  static Host from(const std::vector<float>& v, DType d) {
    Host h(d, v.size());
    convert_elements(v.data(), DType::F32, h.b.data(), d, v.size());
    return h;
  }
  void* data() { return b.data(); }
  std::vector<float> f32() const {
    std::vector<float> v(n);
    convert_elements(b.data(), dt, v.data(), DType::F32, n);
    return v;
  }
};

std::vector<float> bytes_to_f32(const std::vector<uint8_t>& b, DType d) {
  size_t n = b.size() / dtype_size(d);
  std::vector<float> v(n);
  convert_elements(b.data(), d, v.data(), DType::F32, n);
  return v;
}

std::vector<float> randn(size_t n, uint64_t seed, float std = 1.0f, float mean = 0.0f) {
  auto v = reddiff_test::random_normal(n, seed, std);
  for (auto& x : v) x += mean;
  return v;
}

double rtol_for(DType d) {
  switch (d) {
    case DType::F16: return 2e-3;   // ~2 ulp of f16
    case DType::BF16: return 1.6e-2;  // ~2 ulp of bf16
    default: return 1e-5;
  }
}

// Element-wise: finite, and |gpu - cpu| <= atol + rtol |cpu| with atol = rtol * rms(cpu) + atol_extra.
void compare(const std::vector<float>& gpu, const std::vector<float>& cpu, double rtol, const std::string& what,
             double atol_extra = 0.0) {
  REQUIRE(gpu.size() == cpu.size());
  double ss = 0;
  for (float v : cpu)
    if (std::isfinite(v)) ss += double(v) * v;
  double rms = cpu.empty() ? 0.0 : std::sqrt(ss / double(cpu.size()));
  double atol = rtol * rms + atol_extra;
  size_t nonfinite = 0, bad = 0, first = size_t(-1);
  double worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (!std::isfinite(gpu[i]) || !std::isfinite(cpu[i])) {
      if (first == size_t(-1)) first = i;
      ++nonfinite;
      continue;
    }
    double d = std::fabs(double(gpu[i]) - double(cpu[i]));
    double lim = atol + rtol * std::fabs(double(cpu[i]));
    if (d > lim) {
      if (first == size_t(-1)) first = i;
      ++bad;
    }
    worst = std::max(worst, d / (lim > 0 ? lim : 1e-30));
  }
  std::ostringstream os;
  os << what << ": " << cpu.size() << " elements, " << nonfinite << " not finite/unwritten, " << bad
     << " out of tolerance (rtol " << rtol << ", atol " << atol << ", worst at " << worst << "x the limit)";
  if (first != size_t(-1)) os << "; first at " << first << ": gpu " << gpu[first] << " cpu " << cpu[first];
  INFO(os.str());
  CHECK(nonfinite == 0);
  CHECK(bad == 0);
}

struct StreamGuard {
  cudaStream_t s = nullptr;
  StreamGuard() { REQUIRE(cudaStreamCreate(&s) == cudaSuccess); }
  ~StreamGuard() {
    if (s) cudaStreamDestroy(s);
  }
  void sync() {
    REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
    REQUIRE(cudaGetLastError() == cudaSuccess);
  }
};

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16};

std::string tag(std::initializer_list<std::string> parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : " ") + p;
  return s;
}

}  // namespace

TEST_CASE("group_norm_cuda matches group_norm_cpu", "[gpu][kernels]") {
  struct Shape {
    int n, hw, c, groups;
  };
  std::vector<Shape> shapes = {{2, 35, 64, 32}, {1, 16, 96, 32}, {2, 1, 32, 32}, {1, 1024, 256, 32}};
  if (!quick()) shapes.push_back({2, 64 * 64, 128, 32}), shapes.push_back({1, 128 * 128, 256, 32});
  StreamGuard st;
  uint64_t seed = 100;
  for (const Shape& sh : shapes) {
    size_t count = size_t(sh.n) * sh.hw * sh.c;
    auto xv = randn(count, ++seed, 1.5f, 2.0f);  // |mean| > std: exercises the shifted statistics
    auto gamma = randn(size_t(sh.c), ++seed, 0.1f, 1.0f), beta = randn(size_t(sh.c), ++seed, 0.1f);
    auto ss = randn(size_t(sh.n) * 2 * sh.c, ++seed, 0.3f), ab = randn(size_t(sh.n) * sh.c, ++seed, 0.5f);
    Dev dgamma(gamma.size() * 4), dbeta(beta.size() * 4), dss(ss.size() * 4), dab(ab.size() * 4);
    dgamma.put(gamma.data()), dbeta.put(beta.data()), dss.put(ss.data()), dab.put(ab.data());
    for (DType xt : kTypes) {
      Host hx = Host::from(xv, xt);
      Dev dx(hx.b.size());
      dx.put(hx.data());
      for (DType yt : {xt, DType::F32}) {
        for (NormMod mode : {NormMod::None, NormMod::ScaleShift, NormMod::AddBias}) {
          for (bool silu : {false, true}) {
            std::string what = tag({"group_norm", "n" + std::to_string(sh.n), "hw" + std::to_string(sh.hw),
                                    "c" + std::to_string(sh.c), dtype_name(xt), "->", dtype_name(yt),
                                    "mode" + std::to_string(int(mode)), silu ? "silu" : ""});
            GroupNormArgs a;
            a.x_dtype = xt, a.y_dtype = yt, a.n = sh.n, a.hw = sh.hw, a.c = sh.c, a.groups = sh.groups;
            a.eps = 1e-5f, a.mode = mode, a.silu = silu;
            Host hy(yt, count);
            a.x = hx.data(), a.y = hy.data(), a.gamma = gamma.data(), a.beta = beta.data();
            a.mod = mode == NormMod::ScaleShift ? ss.data() : mode == NormMod::AddBias ? ab.data() : nullptr;
            group_norm_cpu(a, nullptr);
            Dev dy(hy.b.size());
            dy.poison();
            a.x = dx.p, a.y = dy.p, a.gamma = dgamma.as<float>(), a.beta = dbeta.as<float>();
            a.mod = mode == NormMod::ScaleShift ? dss.as<float>() : mode == NormMod::AddBias ? dab.as<float>() : nullptr;
            group_norm_cuda(a, st.s);
            st.sync();
            compare(bytes_to_f32(dy.get(), yt), hy.f32(), rtol_for(yt), what);
          }
        }
        if (xt == DType::F32) break;  // y = f32 already covered
      }
    }
  }
}

TEST_CASE("group_norm_cuda rejects bad arguments", "[gpu][kernels]") {
  GroupNormArgs a;
  a.n = 1, a.hw = 4, a.c = 48, a.groups = 32;
  CHECK_THROWS_AS(group_norm_cuda(a, nullptr), Error);
  a.c = 64, a.x_dtype = DType::F64;
  Dev g(64 * 4);
  a.gamma = g.as<float>(), a.beta = g.as<float>();
  CHECK_THROWS_AS(group_norm_cuda(a, nullptr), Error);
}

TEST_CASE("attention_cuda (GEMM and fused) matches attention_cpu in both head orders", "[gpu][kernels]") {
  struct Shape {
    int n, t, c, heads;
  };
  std::vector<Shape> shapes = {{2, 16, 64, 2}, {1, 63, 96, 3}, {2, 64, 48, 4}, {1, 1, 32, 1}, {2, 256, 128, 4}};
  if (!quick()) shapes.push_back({1, 1024, 256, 4}), shapes.push_back({1, 6144, 64, 2});  // last: > 1 pass over heads
  StreamGuard st;
  uint64_t seed = 500;
  for (const Shape& sh : shapes) {
    size_t in_count = size_t(sh.n) * sh.t * 3 * sh.c, out_count = size_t(sh.n) * sh.t * sh.c;
    auto qkv = randn(in_count, ++seed);
    std::vector<float> cpu_ws(attention_workspace_bytes_cpu(sh.n, sh.t, sh.c, sh.heads) / sizeof(float) + 1);
    for (DType dt : kTypes) {
      if (sh.t > 2048 && dt != DType::F32 && quick()) continue;
      Host hq = Host::from(qkv, dt);
      Dev dq(hq.b.size());
      dq.put(hq.data());
      Dev dws(attention_workspace_bytes_cuda(sh.n, sh.t, sh.c, sh.heads, dt));
      for (int impl = 0; impl < 2; ++impl)
      for (bool legacy : {true, false}) {
        if (impl == 1 && sh.t > 2048) continue;  // the fused kernel is for the UNet's 8x8..32x32 token grids
        std::string what = tag({"attention", impl ? "fused" : "gemm", "n" + std::to_string(sh.n), "t" + std::to_string(sh.t),
                                "c" + std::to_string(sh.c), "heads" + std::to_string(sh.heads), dtype_name(dt),
                                legacy ? "legacy" : "new"});
        AttentionArgs a;
        a.dtype = dt, a.n = sh.n, a.t = sh.t, a.c = sh.c, a.heads = sh.heads, a.legacy = legacy;
        a.impl = impl ? AttentionArgs::Impl::Fused : AttentionArgs::Impl::Gemm;
        REQUIRE(attention_cuda_impl(a) == a.impl);
        Host ho(dt, out_count);
        a.qkv = hq.data(), a.out = ho.data(), a.workspace = cpu_ws.data();
        attention_cpu(a, nullptr);
        Dev dout(ho.b.size());
        dout.poison();
        dws.poison();
        a.qkv = dq.p, a.out = dout.p, a.workspace = dws.p;
        attention_cuda(a, st.s);
        st.sync();
        // The GEMM path stores the probabilities in the activation dtype (as guided-diffusion does); the
        // CPU twin and the fused kernel keep them in f32: allow two more roundings for the half types.
        double rtol = dt == DType::F32 ? 2e-5 : 2 * rtol_for(dt);
        compare(bytes_to_f32(dout.get(), dt), ho.f32(), rtol, what);
      }
    }
  }
}

TEST_CASE("timestep_embedding_cuda matches the CPU twin", "[gpu][kernels]") {
  std::vector<float> t = {0.0f, 1.0f, 17.5f, 250.0f, 500.0f, 999.0f};
  StreamGuard st;
  Dev dt(t.size() * 4);
  dt.put(t.data());
  for (int dim : {128, 7, 320, 1024}) {
    TimestepEmbedArgs a;
    a.n = int(t.size()), a.dim = dim;
    Host hy(DType::F32, t.size() * size_t(dim));
    a.t = t.data(), a.y = static_cast<float*>(hy.data());
    timestep_embedding_cpu(a, nullptr);
    Dev dy(hy.b.size());
    dy.poison();
    a.t = dt.as<float>(), a.y = dy.as<float>();
    timestep_embedding_cuda(a, st.s);
    st.sync();
    // atol: a rare 1-ulp difference between host and device exp moves cos(t f) by <= 1.2e-4 at t = 999.
    compare(bytes_to_f32(dy.get(), DType::F32), hy.f32(), 1e-5, "timestep_embedding dim " + std::to_string(dim), 2e-4);
  }
}

TEST_CASE("silu_cuda, label_embedding_add_cuda and bias_residual_cuda match their CPU twins", "[gpu][kernels]") {
  StreamGuard st;
  {
    size_t n = quick() ? 10007 : 1000003;
    auto x = randn(n, 7, 3.0f);
    Host hy(DType::F32, n);
    SiluArgs a;
    a.x = x.data(), a.y = static_cast<float*>(hy.data()), a.n = int64_t(n);
    silu_cpu(a, nullptr);
    Dev dx(n * 4), dy(n * 4);
    dx.put(x.data());
    dy.poison();
    a.x = dx.as<float>(), a.y = dy.as<float>();
    silu_cuda(a, st.s);
    st.sync();
    compare(bytes_to_f32(dy.get(), DType::F32), hy.f32(), 1e-5, "silu");
  }
  {
    int n = 3, dim = 64, classes = 10;
    auto emb = randn(size_t(n) * dim, 8), table = randn(size_t(classes) * dim, 9);
    std::vector<int32_t> labels = {3, 0, 9};
    std::vector<float> cpu = emb;
    LabelEmbedArgs a;
    a.labels = labels.data(), a.table = table.data(), a.emb = cpu.data(), a.n = n, a.dim = dim;
    label_embedding_add_cpu(a, nullptr);
    Dev de(emb.size() * 4), dtab(table.size() * 4), dl(labels.size() * 4);
    de.put(emb.data()), dtab.put(table.data()), dl.put(labels.data());
    a.labels = dl.as<int32_t>(), a.table = dtab.as<float>(), a.emb = de.as<float>();
    label_embedding_add_cuda(a, st.s);
    st.sync();
    compare(bytes_to_f32(de.get(), DType::F32), cpu, 0.0, "label_embedding_add");
  }
  {
    int64_t rows = 2 * 35;
    int c = 96;
    size_t count = size_t(rows) * c;
    auto y = randn(count, 10), r = randn(count, 11), bias = randn(size_t(c), 12);
    Dev dbias(bias.size() * 4);
    dbias.put(bias.data());
    for (DType dt : kTypes) {
      Host hy0 = Host::from(y, dt), hr = Host::from(r, dt);
      Dev dr(hr.b.size());
      dr.put(hr.data());
      for (int variant = 0; variant < 3; ++variant) {
        bool with_bias = variant != 1, with_res = variant != 0;
        Host hy = hy0;
        BiasResidualArgs a;
        a.dtype = dt, a.rows = rows, a.c = c;
        a.y = hy.data(), a.bias = with_bias ? bias.data() : nullptr, a.residual = with_res ? hr.data() : nullptr;
        bias_residual_cpu(a, nullptr);
        Dev dy(hy0.b.size());
        dy.put(hy0.data());
        a.y = dy.p, a.bias = with_bias ? dbias.as<float>() : nullptr, a.residual = with_res ? dr.p : nullptr;
        bias_residual_cuda(a, st.s);
        st.sync();
        compare(bytes_to_f32(dy.get(), dt), hy.f32(), 0.0,
                tag({"bias_residual", dtype_name(dt), with_bias ? "bias" : "", with_res ? "residual" : ""}));
      }
    }
  }
}

TEST_CASE("resampling and layout kernels match their CPU twins", "[gpu][kernels]") {
  StreamGuard st;
  for (DType dt : kTypes) {
    {  // avg_pool2: f32 math, same summation order -> identical results
      int n = 2, h = 6, w = 10, c = 40;
      Host hx = Host::from(randn(size_t(n) * h * w * c, 20), dt);
      Host hy(dt, size_t(n) * (h / 2) * (w / 2) * c);
      ResampleArgs a;
      a.dtype = dt, a.n = n, a.h = h, a.w = w, a.c = c, a.x = hx.data(), a.y = hy.data();
      avg_pool2_cpu(a, nullptr);
      Dev dx(hx.b.size()), dy(hy.b.size());
      dx.put(hx.data());
      dy.poison();
      a.x = dx.p, a.y = dy.p;
      avg_pool2_cuda(a, st.s);
      st.sync();
      compare(bytes_to_f32(dy.get(), dt), hy.f32(), dt == DType::F32 ? 1e-6 : rtol_for(dt), tag({"avg_pool2", dtype_name(dt)}));
    }
    {  // upsample: a copy
      int n = 2, h = 5, w = 3, c = 33;
      Host hx = Host::from(randn(size_t(n) * h * w * c, 21), dt);
      Host hy(dt, size_t(n) * 4 * h * w * c);
      ResampleArgs a;
      a.dtype = dt, a.n = n, a.h = h, a.w = w, a.c = c, a.x = hx.data(), a.y = hy.data();
      upsample_nearest2_cpu(a, nullptr);
      Dev dx(hx.b.size()), dy(hy.b.size());
      dx.put(hx.data());
      dy.poison();
      a.x = dx.p, a.y = dy.p;
      upsample_nearest2_cuda(a, st.s);
      st.sync();
      compare(bytes_to_f32(dy.get(), dt), hy.f32(), 0.0, tag({"upsample_nearest2", dtype_name(dt)}));
    }
    {  // concat
      int n = 2, hw = 35, ca = 64, cb = 32;
      Host ha = Host::from(randn(size_t(n) * hw * ca, 22), dt), hb = Host::from(randn(size_t(n) * hw * cb, 23), dt);
      Host hy(dt, size_t(n) * hw * (ca + cb));
      ConcatArgs a;
      a.dtype = dt, a.n = n, a.hw = hw, a.ca = ca, a.cb = cb, a.a = ha.data(), a.b = hb.data(), a.y = hy.data();
      concat_channels_cpu(a, nullptr);
      Dev da(ha.b.size()), db(hb.b.size()), dy(hy.b.size());
      da.put(ha.data()), db.put(hb.data());
      dy.poison();
      a.a = da.p, a.b = db.p, a.y = dy.p;
      concat_channels_cuda(a, st.s);
      st.sync();
      compare(bytes_to_f32(dy.get(), dt), hy.f32(), 0.0, tag({"concat_channels", dtype_name(dt)}));
    }
    for (auto pad : {std::make_pair(32, 24), std::make_pair(30, 22)}) {  // input_pad, with and without padding
      int n = 2, c = 3, h = 30, w = 22, hp = pad.first, wp = pad.second;
      auto x = randn(size_t(n) * c * h * w, 24);
      Host hy(dt, size_t(n) * hp * wp * c);
      InputPadArgs a;
      a.dtype = dt, a.n = n, a.c = c, a.h = h, a.w = w, a.hp = hp, a.wp = wp, a.x = x.data(), a.y = hy.data();
      input_pad_cpu(a, nullptr);
      Dev dx(x.size() * 4), dy(hy.b.size());
      dx.put(x.data());
      dy.poison();
      a.x = dx.as<float>(), a.y = dy.p;
      input_pad_cuda(a, st.s);
      st.sync();
      compare(bytes_to_f32(dy.get(), dt), hy.f32(), 0.0, tag({"input_pad", dtype_name(dt), std::to_string(hp) + "x" + std::to_string(wp)}));
    }
    {  // output_crop
      int n = 2, c = 6, h = 30, w = 22, hp = 32, wp = 24;
      Host hx = Host::from(randn(size_t(n) * hp * wp * c, 25), dt);
      Host hy(DType::F32, size_t(n) * c * h * w);
      OutputCropArgs a;
      a.dtype = dt, a.n = n, a.c = c, a.h = h, a.w = w, a.hp = hp, a.wp = wp, a.x = hx.data(),
      a.y = static_cast<float*>(hy.data());
      output_crop_cpu(a, nullptr);
      Dev dx(hx.b.size()), dy(hy.b.size());
      dx.put(hx.data());
      dy.poison();
      a.x = dx.p, a.y = dy.as<float>();
      output_crop_cuda(a, st.s);
      st.sync();
      compare(bytes_to_f32(dy.get(), DType::F32), hy.f32(), 0.0, tag({"output_crop", dtype_name(dt)}));
    }
  }
  ResampleArgs bad;
  bad.dtype = DType::F64, bad.n = 1, bad.h = 2, bad.w = 2, bad.c = 1;
  CHECK_THROWS_AS(avg_pool2_cuda(bad, nullptr), Error);
}
