// The cross-backend table of kernel cases (after ggml's tests/test-backend-ops.cpp): every case is one call of
// one kernel's dispatcher (kernels/**/name.h) that names itself and its parameters, builds its own random
// inputs, and runs on any backend (memory from Backend::alloc, the kernel through name(device, args, stream)).
//   test_backend_ops                 every case on the CPU and on CUDA, outputs compared with the case's own
//                                    tolerance; exits 77 (skipped) when there is no CUDA device
//   test_backend_ops --cpu-only      the self-check without a GPU: each case's CPU twin twice, outputs
//                                    bit-identical, finite (outputs start as NaN: an element nobody writes is
//                                    caught) and not all zero; and the shared argument checks reject bad calls
//   test_backend_ops --perf          times every case on each available backend
//   -o NAME / --filter REGEX / --list / --quick (or REDDIFF_GPU_QUICK=1: drop the large shapes)
// One line per case. ctest runs `--cpu-only` as backend_ops_cpu (every build) and the comparison as
// gpu_backend_ops (label gpu, CUDA builds). Adding a kernel: add its cases in the group's add_*_cases below.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "engine/backend.h"
#include "kernels/network/attention.h"
#include "kernels/network/attention_backward.h"
#include "kernels/network/embedding.h"
#include "kernels/network/group_norm.h"
#include "kernels/network/group_norm_backward.h"
#include "kernels/network/resample.h"
#include "kernels/network/resample_backward.h"
#include "kernels/operator/conv.h"
#include "kernels/operator/fft.h"
#include "kernels/operator/jpeg.h"
#include "kernels/operator/phase.h"
#include "kernels/operator/pointwise.h"
#include "kernels/operator/separable.h"
#include "kernels/operator/svd.h"
#include "kernels/solver/ddrm_step.h"
#include "kernels/solver/guided_step.h"
#include "kernels/solver/reddiff_step.h"
#include "kernels/solver/sampler_step.h"

using namespace reddiff;

namespace {

bool g_quick = false;
const DType kActTypes[] = {DType::F32, DType::F16, DType::BF16};

// ---------------------------------------------------------------- a case
// One buffer of a case: initial bytes (empty: poisoned, 0xFF bytes = NaN in every float type), whether it is
// an output compared between backends (of element type dt), or a workspace sized per device.
struct Buf {
  size_t bytes = 0;
  std::vector<uint8_t> init;
  bool out = false;
  DType dt = DType::F32;
  double rtol = -1;                     // >= 0: this output's own tolerance instead of the case's
  std::function<size_t(Device)> sized;  // workspace: bytes on that device
};

using Ptrs = std::vector<void*>;

struct Case {
  std::string op;      // the kernel (its dispatcher's name)
  std::string params;  // "n=2,hw=35,c=64,f16"
  double rtol = 1e-5;  // |gpu - cpu| <= atol + rtol |cpu|, atol = rtol rms(cpu) + atol_extra
  double atol_extra = 0;
  bool rel_l2 = false;  // instead: ||gpu - cpu|| / max(||cpu||, l2_floor) <= rtol
  double l2_floor = 0;
  bool zero_ok = false;  // outputs that are exactly zero for these inputs (the --cpu-only check allows it)
  std::vector<Buf> bufs;
  std::function<void(Device, const Ptrs&, Stream)> run;
  std::function<void(Backend&, const Ptrs&, Stream)> run_on;  // instead of run, for cases that need the backend

  std::string title() const { return op + "(" + params + ")"; }
  int add(Buf b) {
    bufs.push_back(std::move(b));
    return int(bufs.size()) - 1;
  }
  // An input of float values stored as dt.
  int in(const std::vector<float>& v, DType dt = DType::F32) {
    Buf b;
    b.bytes = v.size() * dtype_size(dt);
    b.init.resize(b.bytes);
    convert_elements(v.data(), DType::F32, b.init.data(), dt, v.size());
    b.dt = dt;
    return add(std::move(b));
  }
  template <typename T>
  int in_raw(const std::vector<T>& v) {
    Buf b;
    b.bytes = v.size() * sizeof(T);
    b.init.resize(b.bytes);
    if (b.bytes) std::memcpy(b.init.data(), v.data(), b.bytes);
    return add(std::move(b));
  }
  // An output of n elements of dt, poisoned.
  int out(size_t n, DType dt = DType::F32) {
    Buf b;
    b.bytes = n * dtype_size(dt);
    b.out = true;
    b.dt = dt;
    return add(std::move(b));
  }
  // Read and written (in place, accumulation): starts as v.
  int inout(const std::vector<float>& v, DType dt = DType::F32) {
    const int i = in(v, dt);
    bufs[size_t(i)].out = true;
    return i;
  }
  int workspace(std::function<size_t(Device)> bytes) {
    Buf b;
    b.sized = std::move(bytes);
    return add(std::move(b));
  }
};

template <typename T>
T* P(const Ptrs& p, int i) {
  return static_cast<T*>(p[size_t(i)]);
}

std::vector<float> randn(size_t n, uint64_t seed, float std = 1.0f, float mean = 0.0f) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(mean, std);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
std::vector<float> uniform(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
double rtol_for(DType d) {
  switch (d) {
    case DType::F16:
      return 2e-3;  // ~2 ulp of f16
    case DType::BF16:
      return 1.6e-2;  // ~2 ulp of bf16
    default:
      return 1e-5;
  }
}
std::string kv(const char* k, int64_t v) { return std::string(k) + "=" + std::to_string(v); }
std::string join(std::initializer_list<std::string> parts) {
  std::string s;
  for (const auto& p : parts)
    if (!p.empty()) s += (s.empty() ? "" : ",") + p;
  return s;
}

// ---------------------------------------------------------------- running a case on a backend
struct Outputs {
  std::vector<std::vector<double>> v;  // one per output buffer, in buffer order (f64 outputs kept exact)
  std::vector<size_t> buf;             // its buffer
  std::vector<std::string> what;       // "buffer 3 (f16)"
};

std::vector<double> to_f64(const std::vector<uint8_t>& b, DType dt) {
  std::vector<double> v(b.size() / dtype_size(dt));
  if (dt == DType::F64) {
    if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * 8);
    return v;
  }
  std::vector<float> f(v.size());
  convert_elements(b.data(), dt, f.data(), DType::F32, f.size());
  for (size_t i = 0; i < f.size(); ++i) v[i] = f[i];
  return v;
}

// Runs c on be (reps > 0: that many more times, timed; *ms gets the mean per call) and returns its outputs.
Outputs run_case(const Case& c, Backend& be, int reps = 0, double* ms = nullptr) {
  const Device d = be.device();
  Ptrs p(c.bufs.size(), nullptr);
  struct Free {
    Backend& be;
    Ptrs& p;
    ~Free() {
      for (void* q : p)
        if (q) be.free(q);
    }
  } guard{be, p};
  std::vector<size_t> bytes(c.bufs.size());
  for (size_t i = 0; i < c.bufs.size(); ++i) {
    const Buf& b = c.bufs[i];
    bytes[i] = b.sized ? b.sized(d) : b.bytes;
    p[i] = be.alloc(std::max<size_t>(bytes[i], 1));
    if (!b.init.empty()) {
      be.upload(p[i], b.init.data(), bytes[i]);
    } else {
      std::vector<uint8_t> poison(bytes[i], 0xFF);
      if (!poison.empty()) be.upload(p[i], poison.data(), poison.size());
    }
  }
  auto call = [&] {
    if (c.run_on)
      c.run_on(be, p, be.stream());
    else
      c.run(d, p, be.stream());
  };
  call();
  be.synchronize();
  Outputs o;
  for (size_t i = 0; i < c.bufs.size(); ++i) {
    if (!c.bufs[i].out) continue;
    std::vector<uint8_t> h(bytes[i]);
    if (!h.empty()) be.download(h.data(), p[i], h.size());
    o.v.push_back(to_f64(h, c.bufs[i].dt));
    o.buf.push_back(i);
    o.what.push_back("buffer " + std::to_string(i) + " (" + dtype_name(c.bufs[i].dt) + ")");
  }
  if (reps > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) call();
    be.synchronize();
    const auto t1 = std::chrono::steady_clock::now();
    if (ms) *ms = std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
  }
  return o;
}

// gpu against cpu with the case's tolerance; "" when within it, else one line saying why not.
std::string compare(const Case& c, const Buf& b, const std::vector<double>& gpu, const std::vector<double>& cpu) {
  const double rtol = b.rtol >= 0 ? b.rtol : c.rtol;
  if (gpu.size() != cpu.size()) return "sizes differ";
  size_t nonfinite = 0;
  for (size_t i = 0; i < cpu.size(); ++i)
    if (!std::isfinite(gpu[i]) || !std::isfinite(cpu[i])) ++nonfinite;
  if (nonfinite) return std::to_string(nonfinite) + " elements not finite or unwritten";
  char buf[256];
  if (c.rel_l2) {
    double d = 0, n = 0;
    for (size_t i = 0; i < cpu.size(); ++i)
      d += (double(gpu[i]) - cpu[i]) * (double(gpu[i]) - cpu[i]), n += double(cpu[i]) * cpu[i];
    const double err = std::sqrt(d) / std::max(std::sqrt(n), c.l2_floor > 0 ? c.l2_floor : 1e-30);
    if (err <= rtol) return "";
    std::snprintf(buf, sizeof buf, "relative L2 error %.3g > %.3g", err, rtol);
    return buf;
  }
  double ss = 0;
  for (double v : cpu) ss += double(v) * v;
  const double atol = rtol * (cpu.empty() ? 0.0 : std::sqrt(ss / double(cpu.size()))) + c.atol_extra;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < cpu.size(); ++i)
    if (std::fabs(double(gpu[i]) - cpu[i]) > atol + rtol * std::fabs(double(cpu[i])))
      if (bad++ == 0) first = i;
  if (!bad) return "";
  std::snprintf(buf, sizeof buf, "%zu of %zu elements out of tolerance (rtol %g, atol %g); first at %zu: %g vs cpu %g",
                bad, cpu.size(), rtol, atol, first, double(gpu[first]), double(cpu[first]));
  return buf;
}

// n rows of v (dense) as columns [offset, offset + width) of rows `stride` wide; the other entries are
// random, so that a kernel reading outside its columns gives a wrong result.
std::vector<float> widen_rows(const std::vector<float>& v, int n, int offset, int stride) {
  const size_t width = v.size() / size_t(n);
  std::vector<float> w = randn(size_t(n) * size_t(stride), 77, 5.0f);
  for (int i = 0; i < n; ++i)
    std::copy(v.begin() + i * width, v.begin() + (i + 1) * width, w.begin() + i * stride + offset);
  return w;
}

// ---------------------------------------------------------------- the network's kernels (forward)
void add_network_cases(std::vector<Case>& cs) {
  uint64_t seed = 100;
  {  // group_norm
    struct S {
      int n, hw, c;
    };
    std::vector<S> shapes = {{2, 35, 64}, {1, 16, 96}, {2, 1, 32}, {1, 1024, 256}};
    if (!g_quick) shapes.push_back({2, 64 * 64, 128}), shapes.push_back({1, 128 * 128, 256});
    for (const S& sh : shapes) {
      const size_t count = size_t(sh.n) * sh.hw * sh.c;
      const auto x = randn(count, ++seed, 1.5f, 2.0f);  // |mean| > std: exercises the shifted statistics
      const auto gamma = randn(size_t(sh.c), ++seed, 0.1f, 1.0f), beta = randn(size_t(sh.c), ++seed, 0.1f);
      const auto ss = randn(size_t(sh.n) * 2 * sh.c, ++seed, 0.3f), ab = randn(size_t(sh.n) * sh.c, ++seed, 0.5f);
      for (DType xt : kActTypes)
        for (DType yt : xt == DType::F32 ? std::vector<DType>{xt} : std::vector<DType>{xt, DType::F32}) {
          if (yt == DType::F32 && xt != DType::F32 && sh.hw > 4096) continue;
          for (NormMod mode : {NormMod::None, NormMod::ScaleShift, NormMod::AddBias})
            for (int flags = 0; flags < 4; ++flags) {
              // strided: the modulation is columns of wider rows (the stacked time-embedding output)
              const bool silu = flags & 1, strided = flags & 2;
              if (strided && (mode == NormMod::None || sh.n < 2 || xt != DType::F32 || yt != DType::F32)) continue;
              Case c;
              c.op = "group_norm";
              c.params = join({kv("n", sh.n), kv("hw", sh.hw), kv("c", sh.c),
                               std::string(dtype_name(xt)) + "->" + dtype_name(yt), kv("mode", int(mode)),
                               silu ? "silu" : "", strided ? "mod_stride" : ""});
              c.rtol = rtol_for(yt);
              const int ix = c.in(x, xt), ig = c.in(gamma), ib = c.in(beta);
              const auto& mod = mode == NormMod::ScaleShift ? ss : ab;
              const int width = int(mod.size()) / sh.n, stride = strided ? width + 11 : 0;
              const int im = mode == NormMod::None ? -1 : c.in(strided ? widen_rows(mod, sh.n, 4, stride) : mod);
              const int iy = c.out(count, yt);
              c.run = [=](Device d, const Ptrs& p, Stream s) {
                GroupNormArgs a;
                a.x_dtype = xt, a.y_dtype = yt, a.n = sh.n, a.hw = sh.hw, a.c = sh.c, a.groups = 32, a.eps = 1e-5f;
                a.mode = mode, a.silu = silu;
                a.x = p[size_t(ix)], a.y = p[size_t(iy)], a.gamma = P<float>(p, ig), a.beta = P<float>(p, ib);
                a.mod = im >= 0 ? P<float>(p, im) + (strided ? 4 : 0) : nullptr, a.mod_stride = stride;
                group_norm(d, a, s);
              };
              cs.push_back(std::move(c));
            }
        }
    }
  }
  {  // attention (CUDA: the GEMM path and the fused kernel)
    struct S {
      int n, t, c, heads;
    };
    std::vector<S> shapes = {{2, 16, 64, 2}, {1, 63, 96, 3}, {2, 64, 48, 4}, {1, 1, 32, 1}, {2, 256, 128, 4}};
    if (!g_quick) shapes.push_back({1, 1024, 256, 4}), shapes.push_back({1, 6144, 64, 2});  // last: > 1 pass over heads
    for (const S& sh : shapes) {
      const size_t in_count = size_t(sh.n) * sh.t * 3 * sh.c, out_count = size_t(sh.n) * sh.t * sh.c;
      const auto qkv = randn(in_count, ++seed);
      for (DType dt : kActTypes)
        for (int impl = 0; impl < 2; ++impl)
          for (bool legacy : {true, false}) {
            if (impl == 1 && sh.t > 2048) continue;  // the fused kernel is for the UNet's 8x8..32x32 token grids
            Case c;
            c.op = "attention";
            c.params = join({kv("n", sh.n), kv("t", sh.t), kv("c", sh.c), kv("heads", sh.heads), dtype_name(dt),
                             impl ? "fused" : "gemm", legacy ? "legacy" : "new"});
            // The GEMM path stores the probabilities in the activation dtype (as guided-diffusion does); the
            // CPU twin and the fused kernel keep them in f32: two more roundings for the half types.
            c.rtol = dt == DType::F32 ? 2e-5 : 2 * rtol_for(dt);
            const int iq = c.in(qkv, dt), io = c.out(out_count, dt);
            const int iw =
                c.workspace([=](Device d) { return attention_workspace_bytes(d, sh.n, sh.t, sh.c, sh.heads, dt); });
            c.run = [=](Device d, const Ptrs& p, Stream s) {
              AttentionArgs a;
              a.dtype = dt, a.n = sh.n, a.t = sh.t, a.c = sh.c, a.heads = sh.heads, a.legacy = legacy;
              a.impl = impl ? AttentionArgs::Impl::Fused : AttentionArgs::Impl::Gemm;
              a.qkv = p[size_t(iq)], a.out = p[size_t(io)], a.workspace = p[size_t(iw)];
#ifdef REDDIFF_HAVE_CUDA
              if (d == Device::CUDA && attention_cuda_impl(a) != a.impl)
                throw Error("attention: implementation not honoured");
#endif
              attention(d, a, s);
            };
            cs.push_back(std::move(c));
          }
    }
  }
  {  // timestep_embedding
    const std::vector<float> t = {0.0f, 1.0f, 17.5f, 250.0f, 500.0f, 999.0f};
    for (int dim : {128, 7, 320, 1024}) {
      Case c;
      c.op = "timestep_embedding";
      c.params = join({kv("n", int(t.size())), kv("dim", dim)});
      // a rare 1-ulp difference between host and device exp moves cos(t f) by <= 1.2e-4 at t = 999
      c.atol_extra = 2e-4;
      const int it = c.in(t), iy = c.out(t.size() * size_t(dim));
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        TimestepEmbedArgs a;
        a.n = int(t.size()), a.dim = dim, a.t = P<float>(p, it), a.y = P<float>(p, iy);
        timestep_embedding(d, a, s);
      };
      cs.push_back(std::move(c));
    }
  }
  {  // silu
    const size_t n = g_quick ? 10007 : 1000003;
    Case c;
    c.op = "silu";
    c.params = kv("n", int64_t(n));
    const int ix = c.in(randn(n, 7, 3.0f)), iy = c.out(n);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      SiluArgs a;
      a.x = P<float>(p, ix), a.y = P<float>(p, iy), a.n = int64_t(n);
      silu(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  {  // label_embedding_add
    const int n = 3, dim = 64, classes = 10;
    Case c;
    c.op = "label_embedding_add";
    c.params = join({kv("n", n), kv("dim", dim), kv("classes", classes)});
    c.rtol = 0;
    const int ie = c.inout(randn(size_t(n) * dim, 8)), it = c.in(randn(size_t(classes) * dim, 9));
    const int il = c.in_raw(std::vector<int32_t>{3, 0, 9});
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      LabelEmbedArgs a;
      a.labels = P<int32_t>(p, il), a.table = P<float>(p, it), a.emb = P<float>(p, ie), a.n = n, a.dim = dim;
      label_embedding_add(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (DType dt : kActTypes)  // bias_residual
    for (int variant = 0; variant < 3; ++variant) {
      const int64_t rows = 2 * 35;
      const int ch = 96;
      const bool with_bias = variant != 1, with_res = variant != 0;
      Case c;
      c.op = "bias_residual";
      c.params =
          join({kv("rows", rows), kv("c", ch), dtype_name(dt), with_bias ? "bias" : "", with_res ? "residual" : ""});
      c.rtol = 0;
      const size_t count = size_t(rows) * ch;
      const int iy = c.inout(randn(count, 10), dt), ir = c.in(randn(count, 11), dt), ib = c.in(randn(size_t(ch), 12));
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        BiasResidualArgs a;
        a.dtype = dt, a.rows = rows, a.c = ch, a.y = p[size_t(iy)];
        a.bias = with_bias ? P<float>(p, ib) : nullptr, a.residual = with_res ? p[size_t(ir)] : nullptr;
        bias_residual(d, a, s);
      };
      cs.push_back(std::move(c));
    }
  for (DType dt : kActTypes) {
    {  // avg_pool2: f32 math in the same summation order
      const int n = 2, h = 6, w = 10, ch = 40;
      Case c;
      c.op = "avg_pool2";
      c.params = join({kv("n", n), kv("h", h), kv("w", w), kv("c", ch), dtype_name(dt)});
      c.rtol = dt == DType::F32 ? 1e-6 : rtol_for(dt);
      const int ix = c.in(randn(size_t(n) * h * w * ch, 20), dt), iy = c.out(size_t(n) * (h / 2) * (w / 2) * ch, dt);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        ResampleArgs a;
        a.dtype = dt, a.n = n, a.h = h, a.w = w, a.c = ch, a.x = p[size_t(ix)], a.y = p[size_t(iy)];
        avg_pool2(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    {  // upsample_nearest2: a copy
      const int n = 2, h = 5, w = 3, ch = 33;
      Case c;
      c.op = "upsample_nearest2";
      c.params = join({kv("n", n), kv("h", h), kv("w", w), kv("c", ch), dtype_name(dt)});
      c.rtol = 0;
      const int ix = c.in(randn(size_t(n) * h * w * ch, 21), dt), iy = c.out(size_t(n) * 4 * h * w * ch, dt);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        ResampleArgs a;
        a.dtype = dt, a.n = n, a.h = h, a.w = w, a.c = ch, a.x = p[size_t(ix)], a.y = p[size_t(iy)];
        upsample_nearest2(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    {  // concat_channels
      const int n = 2, hw = 35, ca = 64, cb = 32;
      Case c;
      c.op = "concat_channels";
      c.params = join({kv("n", n), kv("hw", hw), kv("ca", ca), kv("cb", cb), dtype_name(dt)});
      c.rtol = 0;
      const int ia = c.in(randn(size_t(n) * hw * ca, 22), dt), ib = c.in(randn(size_t(n) * hw * cb, 23), dt);
      const int iy = c.out(size_t(n) * hw * (ca + cb), dt);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        ConcatArgs a;
        a.dtype = dt, a.n = n, a.hw = hw, a.ca = ca, a.cb = cb, a.a = p[size_t(ia)], a.b = p[size_t(ib)],
        a.y = p[size_t(iy)];
        concat_channels(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    for (auto pad : {std::make_pair(32, 24), std::make_pair(30, 22)}) {  // input_pad, with and without padding
      const int n = 2, ch = 3, h = 30, w = 22, hp = pad.first, wp = pad.second;
      Case c;
      c.op = "input_pad";
      c.params = join({kv("n", n), kv("c", ch), kv("h", h), kv("w", w), kv("hp", hp), kv("wp", wp), dtype_name(dt)});
      c.rtol = 0;
      const int ix = c.in(randn(size_t(n) * ch * h * w, 24)), iy = c.out(size_t(n) * hp * wp * ch, dt);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        InputPadArgs a;
        a.dtype = dt, a.n = n, a.c = ch, a.h = h, a.w = w, a.hp = hp, a.wp = wp, a.x = P<float>(p, ix),
        a.y = p[size_t(iy)];
        input_pad(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    {  // output_crop
      const int n = 2, ch = 6, h = 30, w = 22, hp = 32, wp = 24;
      Case c;
      c.op = "output_crop";
      c.params = join({kv("n", n), kv("c", ch), kv("h", h), kv("w", w), kv("hp", hp), kv("wp", wp), dtype_name(dt)});
      c.rtol = 0;
      const int ix = c.in(randn(size_t(n) * hp * wp * ch, 25), dt), iy = c.out(size_t(n) * ch * h * w);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        OutputCropArgs a;
        a.dtype = dt, a.n = n, a.c = ch, a.h = h, a.w = w, a.hp = hp, a.wp = wp, a.x = p[size_t(ix)],
        a.y = P<float>(p, iy);
        output_crop(d, a, s);
      };
      cs.push_back(std::move(c));
    }
  }
}

// ---------------------------------------------------------------- the network's backward kernels
double vjp_bound(DType d) { return d == DType::F32 ? 1e-5 : d == DType::F16 ? 4e-3 : 3e-2; }

void add_backward_cases(std::vector<Case>& cs) {
  uint64_t seed = 1000;
  {  // group_norm_backward
    struct S {
      int n, hw, c;
    };
    for (S sh : {S{2, 35, 64}, S{1, 256, 96}, S{2, 1, 32}, S{1, 1024, 128}}) {
      const size_t count = size_t(sh.n) * sh.hw * sh.c;
      const auto x = randn(count, ++seed, 1.5f), gy = randn(count, ++seed), base = randn(count, ++seed);
      const auto gamma = randn(size_t(sh.c), ++seed, 0.2f, 1.0f), beta = randn(size_t(sh.c), ++seed, 0.2f);
      const auto ss = randn(size_t(sh.n) * 2 * sh.c, ++seed, 0.3f), ab = randn(size_t(sh.n) * sh.c, ++seed, 0.5f);
      double gy_norm = 0;
      for (float v : gy) gy_norm += double(v) * v;
      for (DType xt : kActTypes)
        for (DType gt : xt == DType::F32 ? std::vector<DType>{xt} : std::vector<DType>{xt, DType::F32})
          for (NormMod mode : {NormMod::None, NormMod::ScaleShift, NormMod::AddBias})
            for (int flags = 0; flags < 8; ++flags) {
              // strided: the modulation is columns of wider rows (the stacked time-embedding output)
              const bool silu = flags & 1, acc = flags & 2, strided = flags & 4;
              if (strided && (mode == NormMod::None || sh.n < 2 || xt != DType::F32 || gt != DType::F32)) continue;
              Case c;
              c.op = "group_norm_backward";
              c.params = join({kv("n", sh.n), kv("hw", sh.hw), kv("c", sh.c),
                               std::string(dtype_name(xt)) + "/" + dtype_name(gt), kv("mode", int(mode)),
                               silu ? "silu" : "", acc ? "acc" : "", strided ? "mod_stride" : ""});
              c.rel_l2 = true, c.rtol = vjp_bound(xt);
              // One element per group: the exact gradient is 0 (plus the base); only rounding residue differs.
              if (sh.hw * sh.c / 32 == 1) c.l2_floor = std::sqrt(gy_norm), c.zero_ok = !acc;
              const int ix = c.in(x, xt), ig = c.in(gy, gt), igam = c.in(gamma), ibet = c.in(beta);
              const auto& mod = mode == NormMod::ScaleShift ? ss : ab;
              const int width = int(mod.size()) / sh.n, stride = strided ? width + 11 : 0;
              const int im = mode == NormMod::None ? -1 : c.in(strided ? widen_rows(mod, sh.n, 4, stride) : mod);
              const int igx = acc ? c.inout(base, xt) : c.out(count, xt);
              c.run = [=](Device d, const Ptrs& p, Stream s) {
                GroupNormBackwardArgs a;
                a.x_dtype = xt, a.gy_dtype = gt, a.n = sh.n, a.hw = sh.hw, a.c = sh.c, a.groups = 32, a.eps = 1e-5f;
                a.mode = mode, a.silu = silu, a.accumulate = acc;
                a.x = p[size_t(ix)], a.gy = p[size_t(ig)], a.gx = p[size_t(igx)];
                a.gamma = P<float>(p, igam), a.beta = P<float>(p, ibet);
                a.mod = im >= 0 ? P<float>(p, im) + (strided ? 4 : 0) : nullptr, a.mod_stride = stride;
                group_norm_backward(d, a, s);
              };
              cs.push_back(std::move(c));
            }
    }
  }
  {  // attention_backward
    struct S {
      int n, t, c, heads;
    };
    for (S sh : {S{2, 16, 64, 2}, S{1, 63, 96, 3}, S{2, 256, 128, 4}, S{1, 1, 32, 1}}) {
      const size_t in_count = size_t(sh.n) * sh.t * 3 * sh.c, out_count = size_t(sh.n) * sh.t * sh.c;
      const auto qkv = randn(in_count, ++seed), gy = randn(out_count, ++seed);
      for (DType dt : kActTypes)
        for (bool legacy : {true, false}) {
          Case c;
          c.op = "attention_backward";
          c.params = join({kv("n", sh.n), kv("t", sh.t), kv("c", sh.c), kv("heads", sh.heads), dtype_name(dt),
                           legacy ? "legacy" : "new"});
          // The GPU rounds P and dS to the activation dtype for the GEMMs: two more roundings for half types.
          c.rel_l2 = true, c.rtol = dt == DType::F32 ? 2e-5 : 2 * vjp_bound(dt);
          const int iq = c.in(qkv, dt), ig = c.in(gy, dt), io = c.out(in_count, dt);
          const int iw = c.workspace(
              [=](Device d) { return attention_backward_workspace_bytes(d, sh.n, sh.t, sh.c, sh.heads, dt); });
          c.run = [=](Device d, const Ptrs& p, Stream s) {
            AttentionBackwardArgs a;
            a.dtype = dt, a.n = sh.n, a.t = sh.t, a.c = sh.c, a.heads = sh.heads, a.legacy = legacy;
            a.qkv = p[size_t(iq)], a.gout = p[size_t(ig)], a.gqkv = p[size_t(io)], a.workspace = p[size_t(iw)];
            attention_backward(d, a, s);
          };
          cs.push_back(std::move(c));
        }
    }
  }
  for (DType dt : kActTypes)
    for (bool acc : {false, true}) {
      const std::string dts = dtype_name(dt), accs = acc ? "acc" : "";
      const double tol = vjp_bound(dt);  // relative L2 (as the backward kernels were compared before the table)
      {  // avg_pool2_backward and upsample_nearest2_backward: [n, h, w, c] is the input of the forward op
        const int n = 2, h = 6, w = 10, ch = 24;
        const size_t big = size_t(n) * h * w * ch, small = big / 4;
        for (int up = 0; up < 2; ++up) {
          Case c;
          c.op = up ? "upsample_nearest2_backward" : "avg_pool2_backward";
          c.params = join({kv("n", n), kv("h", h), kv("w", w), kv("c", ch), dts, accs});
          c.rel_l2 = true, c.rtol = tol;
          // avg_pool2: gy is the pooled [h/2, w/2] gradient, gx the input's; upsample: gy [2h, 2w] (of an h x w input)
          const size_t gy_count = up ? big * 4 : small, gx_count = up ? big : big;
          const int ig = c.in(randn(gy_count, ++seed), dt);
          const int igx = acc ? c.inout(randn(gx_count, ++seed), dt) : c.out(gx_count, dt);
          c.run = [=](Device d, const Ptrs& p, Stream s) {
            ResampleBackwardArgs a;
            a.dtype = dt, a.n = n, a.h = h, a.w = w, a.c = ch, a.accumulate = acc, a.gy = p[size_t(ig)],
            a.gx = p[size_t(igx)];
            if (up)
              upsample_nearest2_backward(d, a, s);
            else
              avg_pool2_backward(d, a, s);
          };
          cs.push_back(std::move(c));
        }
      }
      {  // channel_slice
        const int64_t rows = 70;
        const int cx = 96, offset = 32, cy = 48;
        Case c;
        c.op = "channel_slice";
        c.params = join({kv("rows", rows), kv("cx", cx), kv("offset", offset), kv("cy", cy), dts, accs});
        c.rel_l2 = true, c.rtol = tol;
        const int ix = c.in(randn(size_t(rows) * cx, ++seed), dt);
        const int iy = acc ? c.inout(randn(size_t(rows) * cy, ++seed), dt) : c.out(size_t(rows) * cy, dt);
        c.run = [=](Device d, const Ptrs& p, Stream s) {
          ChannelSliceArgs a;
          a.dtype = dt, a.rows = rows, a.cx = cx, a.offset = offset, a.cy = cy, a.accumulate = acc;
          a.x = p[size_t(ix)], a.y = p[size_t(iy)];
          channel_slice(d, a, s);
        };
        cs.push_back(std::move(c));
      }
      if (acc) {  // grad_add (always accumulates)
        const int64_t n = 4099;
        Case c;
        c.op = "grad_add";
        c.params = join({kv("n", n), dts});
        c.rel_l2 = true, c.rtol = tol;
        const int ix = c.in(randn(size_t(n), ++seed), dt), iy = c.inout(randn(size_t(n), ++seed), dt);
        c.run = [=](Device d, const Ptrs& p, Stream s) {
          GradAddArgs a;
          a.dtype = dt, a.n = n, a.x = p[size_t(ix)], a.y = p[size_t(iy)];
          grad_add(d, a, s);
        };
        cs.push_back(std::move(c));
      }
      {  // input_pad_backward: gy NHWC [n, hp, wp, c] of dtype -> gx f32 NCHW [n, c, h, w]
        const int n = 2, ch = 3, h = 30, w = 22, hp = 32, wp = 24;
        Case c;
        c.op = "input_pad_backward";
        c.params = join({kv("n", n), kv("c", ch), kv("h", h), kv("w", w), kv("hp", hp), kv("wp", wp), dts, accs});
        c.rel_l2 = true, c.rtol = tol;
        const size_t gx_count = size_t(n) * ch * h * w;
        const int ig = c.in(randn(size_t(n) * hp * wp * ch, ++seed), dt);
        const int igx = acc ? c.inout(randn(gx_count, ++seed)) : c.out(gx_count);
        c.run = [=](Device d, const Ptrs& p, Stream s) {
          InputPadBackwardArgs a;
          a.dtype = dt, a.n = n, a.c = ch, a.h = h, a.w = w, a.hp = hp, a.wp = wp, a.accumulate = acc;
          a.gy = p[size_t(ig)], a.gx = P<float>(p, igx);
          input_pad_backward(d, a, s);
        };
        cs.push_back(std::move(c));
      }
      {  // output_crop_backward: gy f32 NCHW [n, c, h, w] -> gx NHWC [n, hp, wp, c] of dtype
        const int n = 2, ch = 6, h = 30, w = 22, hp = 32, wp = 24;
        Case c;
        c.op = "output_crop_backward";
        c.params = join({kv("n", n), kv("c", ch), kv("h", h), kv("w", w), kv("hp", hp), kv("wp", wp), dts, accs});
        c.rel_l2 = true, c.rtol = tol;
        const size_t gx_count = size_t(n) * hp * wp * ch;
        const int ig = c.in(randn(size_t(n) * ch * h * w, ++seed));
        const int igx = acc ? c.inout(randn(gx_count, ++seed), dt) : c.out(gx_count, dt);
        c.run = [=](Device d, const Ptrs& p, Stream s) {
          OutputCropBackwardArgs a;
          a.dtype = dt, a.n = n, a.c = ch, a.h = h, a.w = w, a.hp = hp, a.wp = wp, a.accumulate = acc;
          a.gy = P<float>(p, ig), a.gx = p[size_t(igx)];
          output_crop_backward(d, a, s);
        };
        cs.push_back(std::move(c));
      }
    }
}

// ---------------------------------------------------------------- the solvers' step kernels
void add_solver_cases(std::vector<Case>& cs) {
  const int n = 2, ch = 3;
  const int64_t hw = 17 * 13, img = ch * hw;
  const size_t count = size_t(n) * size_t(img);
  const std::vector<uint64_t> ids = {7, 1234567};
  uint64_t seed = 2000;
  for (int eps_c : {3, 6}) {
    for (bool clip : {false, true}) {  // guided_x0
      Case c;
      c.op = "guided_x0";
      c.params = join({kv("n", n), kv("c", ch), kv("hw", hw), kv("eps_c", eps_c), clip ? "clip" : ""});
      c.rtol = 1e-6;
      const int ix = c.in(randn(count, ++seed)), ie = c.in(randn(size_t(n) * eps_c * hw, ++seed)), io = c.out(count);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        GuidedX0Args a;
        a.x = P<float>(p, ix), a.eps_hat = P<float>(p, ie), a.eps_hat_channels = eps_c, a.x0 = P<float>(p, io);
        a.n = n, a.c = ch, a.hw = hw, a.recip = 1.7f, a.recipm1 = 1.3f, a.clip = clip;
        guided_x0(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    for (float sigma : {0.0f, 0.4f}) {  // ddim_step
      Case c;
      c.op = "ddim_step";
      c.params =
          join({kv("n", n), kv("c", ch), kv("hw", hw), kv("eps_c", eps_c), sigma > 0 ? "noise" : "deterministic"});
      c.rel_l2 = true;
      const int ix = c.inout(randn(count, ++seed)), ie = c.in(randn(size_t(n) * eps_c * hw, ++seed));
      const int iid = c.in_raw(ids);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        DdimStepArgs a;
        a.x = P<float>(p, ix), a.eps_hat = P<float>(p, ie), a.eps_hat_channels = eps_c,
        a.image_ids = P<uint64_t>(p, iid);
        a.seed = 42, a.step = 3, a.n = n, a.c = ch, a.hw = hw, a.abar_t = 0.3f, a.abar_s = 0.5f, a.sigma = sigma;
        ddim_step(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    {  // ddrm_prepare
      Case c;
      c.op = "ddrm_prepare";
      c.params = join({kv("n", n), kv("c", ch), kv("hw", hw), kv("eps_c", eps_c)});
      const int ix = c.in(randn(count, ++seed)), ie = c.in(randn(size_t(n) * eps_c * hw, ++seed));
      const int i0 = c.out(count), iep = c.out(count);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        DdrmPrepareArgs a;
        a.xt = P<float>(p, ix), a.eps_hat = P<float>(p, ie), a.eps_hat_channels = eps_c, a.x0 = P<float>(p, i0);
        a.eps = P<float>(p, iep), a.n = n, a.c = ch, a.hw = hw, a.sqrt_abar = 0.6f, a.sqrt_1m_abar = 0.8f;
        ddrm_prepare(d, a, s);
      };
      cs.push_back(std::move(c));
    }
  }
  for (float a_coef : {0.0f, 0.7f}) {  // guided_init
    Case c;
    c.op = "guided_init";
    c.params = join({kv("n", n), kv("numel", img), a_coef != 0 ? "base" : "noise-only"});
    const int ix = c.out(count), ib = c.in(randn(count, ++seed)), iid = c.in_raw(ids);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      GuidedInitArgs a;
      a.x = P<float>(p, ix), a.base = P<float>(p, ib), a.image_ids = P<uint64_t>(p, iid), a.seed = 9, a.n = n;
      a.image_numel = img, a.a = a_coef, a.b = 0.5f;
      guided_init(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (bool with_b : {false, true}) {  // image_moments: more elements than a CUDA block has threads
    const int64_t numel = 3 * 40 * 37;
    const size_t cnt = size_t(n) * size_t(numel);
    Case c;
    c.op = "image_moments";
    c.params = join({kv("n", n), kv("numel", numel), with_b ? "a-b" : "a"});
    const int ia = c.in(randn(cnt, ++seed, 1.0f, 0.3f)), ib = c.in(randn(cnt, ++seed));
    const int idiff = c.out(cnt), isum = c.out(size_t(n) * 2, DType::F64);
    c.bufs[size_t(idiff)].rtol = 1e-7;
    c.bufs[size_t(isum)].rtol = 1e-9;  // f64 sums (another summation order on the GPU)
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      ImageMomentsArgs a;
      a.a = P<float>(p, ia), a.b = with_b ? P<float>(p, ib) : nullptr, a.diff = P<float>(p, idiff);
      a.sums = P<double>(p, isum), a.n = n, a.image_numel = numel;
      image_moments(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  {  // noise_fill
    Case c;
    c.op = "noise_fill";
    c.params = join({kv("n", n), kv("numel", img)});
    c.rel_l2 = true, c.rtol = 1e-6;
    const int ix = c.out(count), iid = c.in_raw(ids);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      NoiseFillArgs a;
      a.x = P<float>(p, ix), a.image_ids = P<uint64_t>(p, iid), a.seed = 5, a.step = 2, a.stream = 1, a.n = n;
      a.image_numel = img, a.scale = 0.7f;
      noise_fill(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (float sigma_x0 : {0.0f, 0.2f}) {  // reddiff_noise
    Case c;
    c.op = "reddiff_noise";
    c.params = join({kv("n", n), kv("numel", img), sigma_x0 > 0 ? "sigma_x0" : ""});
    c.rel_l2 = true, c.rtol = 1e-6;
    RedDiffStepScalars sc;
    sc.t = 500, sc.sqrt_abar = 0.6f, sc.sqrt_1m_abar = 0.8f, sc.step = 4;
    const int imu = c.in(randn(count, ++seed)), ie = c.out(count), ixt = c.out(count), iid = c.in_raw(ids);
    const int i0 = sigma_x0 > 0 ? c.out(count) : -1, isc = c.in_raw(std::vector<RedDiffStepScalars>{sc});
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      RedDiffNoiseArgs a;
      a.mu = P<float>(p, imu), a.eps = P<float>(p, ie), a.xt = P<float>(p, ixt),
      a.x0 = i0 >= 0 ? P<float>(p, i0) : nullptr;
      a.image_ids = P<uint64_t>(p, iid), a.scalars = P<RedDiffStepScalars>(p, isc), a.seed = 11, a.n = n;
      a.image_numel = img, a.sigma_x0 = sigma_x0;
      reddiff_noise(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (bool test_noise : {true, false}) {  // ddrm_init (noise given, as the tests do, or drawn)
    Case c;
    c.op = "ddrm_init";
    c.params = join({kv("n", n), kv("numel", img), test_noise ? "given-noise" : "philox"});
    c.rtol = 1e-5;
    const int iv = c.out(count), iu = c.in(randn(count, ++seed)), is = c.in(uniform(count, ++seed, 0.0f, 1.5f));
    const int iz = c.in(randn(count, ++seed)), iid = c.in_raw(ids);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      DdrmInitArgs a;
      a.v = P<float>(p, iv), a.uty = P<float>(p, iu), a.s = P<float>(p, is),
      a.noise = test_noise ? P<float>(p, iz) : nullptr;
      a.image_ids = P<uint64_t>(p, iid), a.seed = 3, a.n = n, a.image_numel = img, a.sigma_T = 1.2f, a.sigma_0 = 0.05f;
      ddrm_init(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  {  // ddrm_update
    Case c;
    c.op = "ddrm_update";
    c.params = join({kv("n", n), kv("numel", img)});
    c.rtol = 1e-5;
    const int iv = c.inout(randn(count, ++seed)), ive = c.in(randn(count, ++seed)), iu = c.in(randn(count, ++seed));
    const int is = c.in(uniform(count, ++seed, 0.0f, 1.5f)), iid = c.in_raw(ids);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      DdrmUpdateArgs a;
      a.v = P<float>(p, iv), a.v_eps = P<float>(p, ive), a.uty = P<float>(p, iu), a.s = P<float>(p, is);
      a.image_ids = P<uint64_t>(p, iid), a.seed = 3, a.step = 5, a.n = n, a.image_numel = img;
      a.sigma_next = 0.5f, a.sigma_0 = 0.05f, a.eta = 0.85f, a.eta_b = 1.0f, a.sqrt_abar_next = 0.9f;
      ddrm_update(d, a, s);
    };
    cs.push_back(std::move(c));
  }
}

// RED-diff's prologue, update and the guided solvers' DPS/PiGDM kernels (the shapes of the former per-kernel tests).
void add_solver_cases_2(std::vector<Case>& cs) {
  const int n = 2, ch = 3;
  const int64_t hw = 17 * 13, img = ch * hw;
  const size_t count = size_t(n) * size_t(img);
  const std::vector<uint64_t> ids = {5, 12345678901ull};
  uint64_t seed = 2500;
  {  // reddiff_step_begin: more images than threads in a block
    const int nimg = 300;
    std::vector<RedDiffStepScalars> table(3);
    for (size_t i = 0; i < table.size(); ++i) {
      table[i].t = float(900 - 300 * int(i)), table[i].sqrt_abar = 0.2f + 0.3f * float(i), table[i].step = uint32_t(i);
      table[i].sqrt_1m_abar = 0.9f, table[i].prior_weight = 1e-3f, table[i].bc1 = 0.5f, table[i].bc2_sqrt = 0.7f;
    }
    Case c;
    c.op = "reddiff_step_begin";
    c.params = join({kv("n", nimg), kv("steps", 3)});
    c.rtol = 0;
    const int it = c.in_raw(table), icnt = c.in_raw(std::vector<int32_t>{1});
    const int icur = c.out(sizeof(RedDiffStepScalars) / sizeof(float)), itin = c.out(size_t(nimg));
    c.bufs[size_t(icnt)].out = true;  // the advanced counter (integers compared bit for bit, read as f32)
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      RedDiffStepBeginArgs a;
      a.table = P<RedDiffStepScalars>(p, it), a.counter = P<int32_t>(p, icnt),
      a.current = P<RedDiffStepScalars>(p, icur);
      a.t_in = P<float>(p, itin), a.n = nimg;
      reddiff_step_begin(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  {  // reddiff_update (Adam on mu, m, v)
    const int out_c = 6;
    RedDiffStepScalars sc;
    sc.t = 613, sc.sqrt_abar = 0.37f, sc.sqrt_1m_abar = 0.93f, sc.prior_weight = 3.1e-4f, sc.step = 41;
    adam_bias_corrections(AdamState{}, 42, sc);
    auto v = randn(count, ++seed, 0.1f);
    for (auto& x : v) x = x * x;
    Case c;
    c.op = "reddiff_update";
    c.params = join({kv("n", n), kv("c", ch), kv("hw", hw), kv("eps_c", out_c)});
    c.rel_l2 = true, c.rtol = 1e-6;
    const int imu = c.inout(randn(count, ++seed)), im = c.inout(randn(count, ++seed, 0.1f)), iv = c.inout(v);
    const int ieh = c.in(randn(size_t(n) * out_c * hw, ++seed)), ie = c.in(randn(count, ++seed)),
              ig = c.in(randn(count, ++seed));
    const int isc = c.in_raw(std::vector<RedDiffStepScalars>{sc});
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      RedDiffUpdateArgs a;
      a.mu = P<float>(p, imu), a.m = P<float>(p, im), a.v = P<float>(p, iv), a.eps_hat = P<float>(p, ieh);
      a.eps_hat_channels = out_c, a.eps = P<float>(p, ie), a.g_data = P<float>(p, ig),
      a.scalars = P<RedDiffStepScalars>(p, isc);
      a.n = n, a.c = ch, a.hw = hw, a.data_weight = 0.7f, a.adam.lr = 0.3f;
      reddiff_update(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (int out_c : {3, 6}) {
    auto e = randn(size_t(n) * out_c * hw, ++seed);
    for (auto& v : e) v = std::tanh(v);  // the variance channel in [-1, 1]
    {                                    // dps_cotangent; the second image has a zero residual norm
      Case c;
      c.op = "dps_cotangent";
      c.params = join({kv("n", n), kv("c", ch), kv("hw", hw), kv("eps_c", out_c)});
      c.rtol = 1e-6;
      const int ix = c.in(randn(count, ++seed)), ie = c.in(e), ig = c.inout(randn(count, ++seed));
      const int isum = c.in_raw(std::vector<double>{1.0, 4.0, -2.0, 0.0}), icot = c.out(size_t(n) * out_c * hw);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        DpsCotangentArgs a;
        a.x = P<float>(p, ix), a.eps_hat = P<float>(p, ie), a.eps_hat_channels = out_c, a.g = P<float>(p, ig);
        a.sums = P<double>(p, isum), a.cot = P<float>(p, icot), a.n = n, a.c = ch, a.hw = hw, a.recip = 1.5f,
        a.recipm1 = 1.1f;
        dps_cotangent(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    for (bool noise : {true, false}) {  // dps_update
      Case c;
      c.op = "dps_update";
      c.params = join({kv("n", n), kv("c", ch), kv("hw", hw), kv("eps_c", out_c), noise ? "noise" : ""});
      const int ix = c.inout(randn(count, ++seed)), i0 = c.in(randn(count, ++seed, 0.5f)), ie = c.in(e);
      const int ig = c.in(randn(count, ++seed)), igx = c.in(randn(count, ++seed)), iid = c.in_raw(ids);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        DpsUpdateArgs a;
        a.x = P<float>(p, ix), a.x0 = P<float>(p, i0), a.eps_hat = P<float>(p, ie), a.eps_hat_channels = out_c;
        a.learned_sigma = out_c == 6, a.g = P<float>(p, ig), a.gx = P<float>(p, igx), a.image_ids = P<uint64_t>(p, iid);
        a.seed = 5, a.step = 17, a.n = n, a.c = ch, a.hw = hw, a.coef1 = 0.3f, a.coef2 = 0.9f, a.recip = 1.4f,
        a.zeta = 0.6f;
        a.log_var_min = -6.0f, a.log_var_max = -3.5f, a.noise = noise;
        dps_update(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    for (float contrast : {0.0f, 40.0f}) {  // pigdm_cotangent
      const auto x0 = randn(count, ++seed, 0.6f);
      std::vector<double> sums(2 * size_t(n));
      for (int i = 0; i < n; ++i)
        for (int64_t k = 0; k < img; ++k) {
          const double v = x0[size_t(i * img + k)];
          sums[size_t(2 * i)] += v, sums[size_t(2 * i + 1)] += v * v;
        }
      Case c;
      c.op = "pigdm_cotangent";
      c.params = join({kv("n", n), kv("c", ch), kv("hw", hw), kv("eps_c", out_c), contrast != 0 ? "contrast" : ""});
      const int i0 = c.in(x0), ipy = c.in(randn(count, ++seed, 0.6f)), ig = c.inout(randn(count, ++seed, 0.6f));
      const int isum = c.in_raw(sums), icot = c.out(size_t(n) * out_c * hw);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        PigdmCotangentArgs a;
        a.x0 = P<float>(p, i0), a.pinv_y = P<float>(p, ipy), a.g = P<float>(p, ig), a.x0_sums = P<double>(p, isum);
        a.contrast = contrast, a.cot = P<float>(p, icot), a.eps_hat_channels = out_c, a.n = n, a.c = ch, a.hw = hw;
        a.recipm1 = 0.8f;
        pigdm_cotangent(d, a, s);
      };
      cs.push_back(std::move(c));
    }
  }
  for (bool masked : {false, true})
    for (float c1 : {0.0f, 0.4f}) {  // pigdm_update
      const int out_c = 6;
      std::vector<float> mask(size_t(n) * size_t(hw));
      for (size_t i = 0; i < mask.size(); ++i) mask[i] = float((i * 7) % 3 == 0);
      Case c;
      c.op = "pigdm_update";
      c.params = join({kv("n", n), kv("c", ch), kv("hw", hw), masked ? "mask" : "", c1 != 0 ? "noise" : ""});
      const int ix = c.inout(randn(count, ++seed)), i0 = c.in(randn(count, ++seed, 0.6f));
      const int ie = c.in(randn(size_t(n) * out_c * hw, ++seed)), ig = c.in(randn(count, ++seed));
      const int igx = c.in(randn(count, ++seed)), ipy = c.in(randn(count, ++seed, 0.5f)), im = c.in(mask);
      const int iid = c.in_raw(ids);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        PigdmUpdateArgs a;
        a.x = P<float>(p, ix), a.x0 = P<float>(p, i0), a.eps_hat = P<float>(p, ie), a.eps_hat_channels = out_c;
        a.g = P<float>(p, ig), a.gx = P<float>(p, igx), a.mask = masked ? P<float>(p, im) : nullptr;
        a.pinv_y = P<float>(p, ipy), a.image_ids = P<uint64_t>(p, iid), a.seed = 6, a.step = 3, a.n = n, a.c = ch,
        a.hw = hw;
        a.sqrt_abar_s = 0.7f, a.c1 = c1, a.c2 = 0.5f, a.coeff = 0.45f, a.recip = 1.6f;
        pigdm_update(d, a, s);
      };
      cs.push_back(std::move(c));
    }
}

// ---------------------------------------------------------------- the operators' kernels
void add_operator_cases(std::vector<Case>& cs) {
  const int n = 2, ch = 3;
  const int64_t hw = 19 * 11;
  const size_t count = size_t(n) * ch * size_t(hw);
  uint64_t seed = 3000;
  for (PointwiseKind k : {PointwiseKind::Hdr, PointwiseKind::HdrVjp, PointwiseKind::HdrResidual, PointwiseKind::Scale,
                          PointwiseKind::Sub, PointwiseKind::Axpby}) {
    Case c;
    c.op = "ops_pointwise";
    c.params = join({kv("kind", int(k)), kv("count", int64_t(count))});
    const int ia = c.in(uniform(count, ++seed, -1.0f, 1.0f)), ib = c.in(randn(count, ++seed)), io = c.out(count);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      PointwiseArgs a;
      a.kind = k, a.a = P<float>(p, ia), a.b = P<float>(p, ib), a.out = P<float>(p, io), a.alpha = 0.7f, a.beta = -1.3f;
      a.count = int64_t(count);
      ops_pointwise(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (int residual = 0; residual < 2; ++residual) {  // ops_mask_mul / ops_mask_residual: mask [n, 1, hw]
    Case c;
    c.op = residual ? "ops_mask_residual" : "ops_mask_mul";
    c.params = join({kv("n", n), kv("c", ch), kv("hw", hw)});
    std::vector<float> m = uniform(size_t(n) * size_t(hw), ++seed, 0.0f, 1.0f);
    for (auto& v : m) v = v < 0.5f ? 0.0f : 1.0f;
    const int ia = c.in(randn(count, ++seed)), ib = c.in(randn(count, ++seed)), im = c.in(m), io = c.out(count);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      MaskArgs a;
      a.a = P<float>(p, ia), a.b = P<float>(p, ib), a.m = P<float>(p, im), a.out = P<float>(p, io), a.n = n, a.c = ch,
      a.hw = hw;
      if (residual)
        ops_mask_residual(d, a, s);
      else
        ops_mask_mul(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (int kind = 0; kind < 3; ++kind) {  // channel mean [n, c, hw] -> [n, 1, hw]; spread back; residual
    Case c;
    c.op = kind == 0 ? "ops_channel_mean" : kind == 1 ? "ops_channel_spread" : "ops_channel_residual";
    c.params = join({kv("n", n), kv("c", ch), kv("hw", hw)});
    const size_t gray = size_t(n) * size_t(hw);
    const int ii = c.in(randn(kind == 1 ? gray : count, ++seed)), i1 = c.in(randn(gray, ++seed));
    const int io = c.out(kind == 0 ? gray : count);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      ChannelArgs a;
      a.in = P<float>(p, ii), a.in1 = P<float>(p, i1), a.out = P<float>(p, io), a.alpha = 0.8f, a.n = n, a.c = ch,
      a.hw = hw;
      if (kind == 0)
        ops_channel_mean(d, a, s);
      else if (kind == 1)
        ops_channel_spread(d, a, s);
      else
        ops_channel_residual(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (int crop = 0; crop < 2; ++crop) {  // ops_reflect_pad [planes, h, w] -> [h + 2ph, w + 2pw] and ops_crop back
    const int64_t planes = 6;
    const int h = 13, w = 9, ph = 4, pw = 3;
    Case c;
    c.op = crop ? "ops_crop" : "ops_reflect_pad";
    c.params = join({kv("planes", planes), kv("h", h), kv("w", w), kv("ph", ph), kv("pw", pw)});
    c.rtol = 0;
    const size_t small = size_t(planes) * h * w, big = size_t(planes) * (h + 2 * ph) * (w + 2 * pw);
    const int ii = c.in(randn(crop ? big : small, ++seed)), io = c.out(crop ? small : big);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      PadArgs a;
      a.in = P<float>(p, ii), a.out = P<float>(p, io), a.planes = planes, a.h = h, a.w = w, a.ph = ph, a.pw = pw;
      if (crop)
        ops_crop(d, a, s);
      else
        ops_reflect_pad(d, a, s);
    };
    cs.push_back(std::move(c));
  }
}

// The operators' matrix kernels: a channel matrix, and random CSR matrices along the width and the height.
void add_operator_cases_2(std::vector<Case>& cs) {
  uint64_t seed = 3500;
  {  // ops_channel_matrix [n, cols, hw] -> [n, rows, hw]
    const int n = 2, rows = 1, cols = 3;
    const int64_t hw = 23 * 7;
    Case c;
    c.op = "ops_channel_matrix";
    c.params = join({kv("n", n), kv("rows", rows), kv("cols", cols), kv("hw", hw)});
    const int ii = c.in(randn(size_t(n) * cols * size_t(hw), ++seed)), im = c.in(randn(size_t(rows) * cols, ++seed));
    const int io = c.out(size_t(n) * rows * size_t(hw));
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      ChannelMatrixArgs a;
      a.in = P<float>(p, ii), a.out = P<float>(p, io), a.m = P<float>(p, im), a.rows = rows, a.cols = cols, a.n = n,
      a.hw = hw;
      ops_channel_matrix(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (int along_h = 0; along_h < 2; ++along_h) {  // ops_csr_along_w / ops_csr_along_h
    const int64_t planes = 6;
    const int rows = 7, cols = 16, extent = 11;
    std::vector<int> ptr(1, 0), idx;
    std::mt19937 g(uint32_t(++seed));
    for (int r = 0; r < rows; ++r) {
      for (int k = 0; k < cols; ++k)
        if (g() % 3 == 0 || k == (r * 2) % cols) idx.push_back(k);
      ptr.push_back(int(idx.size()));
    }
    const auto val = randn(idx.size(), ++seed);
    Case c;
    c.op = along_h ? "ops_csr_along_h" : "ops_csr_along_w";
    c.params = join({kv("planes", planes), kv("rows", rows), kv("cols", cols), kv("extent", extent),
                     kv("nnz", int64_t(idx.size()))});
    const int ip = c.in_raw(ptr), ix = c.in_raw(idx), iv = c.in(val);
    const int ii = c.in(randn(size_t(planes) * cols * extent, ++seed)), io = c.out(size_t(planes) * rows * extent);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      SeparableArgs a;
      a.in = P<float>(p, ii), a.out = P<float>(p, io), a.planes = planes, a.extent = extent;
      a.m.ptr = P<int>(p, ip), a.m.idx = P<int>(p, ix), a.m.val = P<float>(p, iv), a.m.rows = rows, a.m.cols = cols;
      if (along_h)
        ops_csr_along_h(d, a, s);
      else
        ops_csr_along_w(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (bool inverse : {false, true}) {  // ops_jpeg_block_dct: orthonormal 8x8 DCT-II or its inverse
    const int64_t blocks = 37;
    Case c;
    c.op = "ops_jpeg_block_dct";
    c.params = join({kv("blocks", blocks), inverse ? "inverse" : "forward"});
    const int ii = c.in(randn(size_t(blocks) * 64, ++seed)), io = c.out(size_t(blocks) * 64);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      JpegBlockDctArgs a;
      a.in = P<float>(p, ii), a.out = P<float>(p, io), a.blocks = blocks, a.inverse = inverse;
      ops_jpeg_block_dct(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (BinEpilogue e :
       {BinEpilogue::Round, BinEpilogue::Apply, BinEpilogue::Mask, BinEpilogue::Residual}) {  // ops_quant_bins
    const int64_t count = 1000;
    const int levels = 15;
    // centres on the levels, x around them: some inside their bin, some past it
    std::vector<float> centre(static_cast<size_t>(count));
    std::vector<float> x = randn(static_cast<size_t>(count), ++seed, 0.1f);
    std::mt19937 g(uint32_t(++seed));
    for (size_t i = 0; i < centre.size(); ++i) {
      centre[i] = 2.0f * float(g() % (levels + 1)) / levels - 1.0f;
      x[i] += centre[i];
    }
    Case c;
    c.op = "ops_quant_bins";
    c.params = join({kv("count", count), kv("levels", levels), kv("epilogue", int(e))});
    const int ix = c.in(x), ic = c.in(centre), ii = c.in(randn(size_t(count), ++seed)), io = c.out(size_t(count));
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      QuantBinArgs a;
      a.x = P<float>(p, ix), a.centre = P<float>(p, ic), a.in = P<float>(p, ii), a.out = P<float>(p, io),
      a.count = count;
      a.levels = levels, a.epilogue = e;
      ops_quant_bins(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  for (int kind = 0; kind < 4; ++kind) {  // FFTs: c2c forward and inverse, r2c, c2r (FFTW / cuFFT, plan per run)
    const int h = 12, w = 10;
    const int64_t batch = 3;
    const size_t plane = size_t(h) * w, half = size_t(h) * (w / 2 + 1);
    const bool c2c = kind < 2;
    Case c;
    c.op = c2c ? "ops_fft_c2c" : kind == 2 ? "ops_fft_r2c" : "ops_fft_c2r";
    c.params = join({kv("h", h), kv("w", w), kv("batch", batch), kind == 1 ? "inverse" : ""});
    c.rel_l2 = true, c.rtol = 1e-5;
    const size_t in_floats = c2c ? 2 * plane : kind == 2 ? plane : 2 * half;
    const size_t out_floats = c2c ? 2 * plane : kind == 2 ? 2 * half : plane;
    auto input = randn(size_t(batch) * in_floats, ++seed);
    if (kind == 3)  // a consistent half-spectrum (of a real field): columns 0 and w/2 real and even in the row
      for (size_t b = 0; b < size_t(batch); ++b)
        for (int col : {0, w / 2})
          for (int i = 0; i < h; ++i) {
            float* e = &input[b * 2 * half + 2 * (size_t(i) * (w / 2 + 1) + size_t(col))];
            e[0] = input[b * 2 * half + 2 * (size_t((h - i) % h) * (w / 2 + 1) + size_t(col))], e[1] = 0.0f;
          }
    const int ii = c.in(input), io = c.out(size_t(batch) * out_floats);
    c.run_on = [=](Backend& be, const Ptrs& p, Stream s) {
      const Device d = be.device();
      FftPlanArgs pa;
      pa.kind = c2c ? FftKind::C2C : FftKind::R2C, pa.h = h, pa.w = w, pa.batch = batch;
      const OpsFftHandle plan = ops_fft_plan(d, pa);
      FftExecArgs a;
      a.plan = plan, a.in = p[size_t(ii)], a.out = p[size_t(io)], a.direction = kind == 1 ? 1 : -1;
      if (c2c)
        ops_fft_c2c(d, a, s);
      else if (kind == 2)
        ops_fft_r2c(d, a, s);
      else
        ops_fft_c2r(d, a, s);
      be.sync_stream(s);  // the transform has run before its plan goes
      ops_fft_destroy(d, plan);
    };
    cs.push_back(std::move(c));
  }
  {  // phase retrieval's pointwise kernels around the FFTs: pack (image or measurement), magnitude, weight, unpack
    PhaseGeom g;
    g.planes = 3, g.h = 7, g.w = 5, g.ph = 3, g.pw = 2, g.H = 13, g.W = 9;
    const size_t spec = size_t(g.planes) * g.H * g.W, image = size_t(g.planes) * g.h * g.w;
    for (bool measurement : {false, true}) {
      Case c;
      c.op = "ops_phase_pack";
      c.params = join({kv("planes", g.planes), kv("h", g.h), kv("w", g.w), kv("H", g.H), kv("W", g.W),
                       measurement ? "measurement" : "image"});
      c.rtol = 0;
      const int ii = c.in(randn(measurement ? spec : image, ++seed)), io = c.out(2 * spec);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        PhasePackArgs a;
        a.in = P<float>(p, ii), a.buf = P<OpsComplex>(p, io), a.g = g;
        a.sh = measurement ? g.H : g.h, a.sw = measurement ? g.W : g.w, a.oh = measurement ? 0 : g.ph,
        a.ow = measurement ? 0 : g.pw;
        ops_phase_pack(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    {
      Case c;
      c.op = "ops_phase_magnitude";
      c.params = join({kv("planes", g.planes), kv("H", g.H), kv("W", g.W)});
      const int iu = c.in(randn(2 * spec, ++seed)), iy = c.out(spec);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        PhaseMagArgs a;
        a.u = P<OpsComplex>(p, iu), a.y = P<float>(p, iy), a.scale = 0.3f, a.g = g;
        ops_phase_magnitude(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    for (bool residual : {false, true}) {
      Case c;
      c.op = "ops_phase_weight";
      c.params = join({kv("planes", g.planes), kv("H", g.H), kv("W", g.W), residual ? "residual" : ""});
      const int iu = c.inout(randn(2 * spec, ++seed)), ir = c.in(randn(spec, ++seed));
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        PhaseWeightArgs a;
        a.u = P<OpsComplex>(p, iu), a.r = P<float>(p, ir), a.scale = 0.3f, a.residual = residual, a.g = g;
        ops_phase_weight(d, a, s);
      };
      cs.push_back(std::move(c));
    }
    for (bool modulus : {false, true}) {
      Case c;
      c.op = "ops_phase_unpack";
      c.params = join({kv("planes", g.planes), kv("h", g.h), kv("w", g.w), kv("H", g.H), kv("W", g.W),
                       modulus ? "modulus" : "real"});
      const int ib = c.in(randn(2 * spec, ++seed)), io = c.out(image);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        PhaseUnpackArgs a;
        a.b = P<OpsComplex>(p, ib), a.out = P<float>(p, io), a.scale = 0.3f, a.modulus = modulus, a.g = g;
        ops_phase_unpack(d, a, s);
      };
      cs.push_back(std::move(c));
    }
  }
  for (int adjoint = 0; adjoint < 2; ++adjoint) {  // the blur with reflect boundaries and its adjoint
    const int n = 2, ch = 3, h = 13, w = 11, kh = 5, kw = 4;
    // index tables of reflect padding by the kernel's radius: padded index u reads ops_reflect(u - off, size);
    // the inverse lists, per source index, the padded indices that read it (CSR)
    auto tables = [](int size, int k, std::vector<int>& refl, std::vector<int>& ptr, std::vector<int>& idx) {
      const int off = k - 1 - k / 2;
      for (int u = 0; u < size + k - 1; ++u) refl.push_back(ops_reflect(u - off, size));
      ptr.assign(1, 0);
      for (int src = 0; src < size; ++src) {
        for (int u = 0; u < int(refl.size()); ++u)
          if (refl[size_t(u)] == src) idx.push_back(u);
        ptr.push_back(int(idx.size()));
      }
    };
    std::vector<int> rh, hp, hi, rw, wp, wi;
    tables(h, kh, rh, hp, hi);
    tables(w, kw, rw, wp, wi);
    auto k = uniform(size_t(n) * kh * kw, ++seed, 0.0f, 1.0f);
    Case c;
    c.op = adjoint ? "ops_conv2d_reflect_adjoint" : "ops_conv2d_reflect";
    c.params = join({kv("n", n), kv("c", ch), kv("h", h), kv("w", w), kv("kh", kh), kv("kw", kw)});
    const size_t count = size_t(n) * ch * h * w;
    const int ii = c.in(randn(count, ++seed)), io = c.out(count), ik = c.in(k);
    const int irh = c.in_raw(rh), irw = c.in_raw(rw), ihp = c.in_raw(hp), ihi = c.in_raw(hi), iwp = c.in_raw(wp),
              iwi = c.in_raw(wi);
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      Conv2dArgs a;
      a.in = P<float>(p, ii), a.out = P<float>(p, io), a.k = P<float>(p, ik), a.rh = P<int>(p, irh),
      a.rw = P<int>(p, irw);
      a.inv_h_ptr = P<int>(p, ihp), a.inv_h_idx = P<int>(p, ihi), a.inv_w_ptr = P<int>(p, iwp),
      a.inv_w_idx = P<int>(p, iwi);
      a.n = n, a.c = ch, a.h = h, a.w = w, a.kh = kh, a.kw = kw;
      if (adjoint)
        ops_conv2d_reflect_adjoint(d, a, s);
      else
        ops_conv2d_reflect(d, a, s);
    };
    cs.push_back(std::move(c));
  }
  {  // JPEG analysis (gather + DCT + epilogue) and synthesis, on a 4:2:0 colour geometry of a 20x14 batch
    JpegGeom g;
    g.n = 2, g.c = 3, g.h = 20, g.w = 14, g.ncomp = 3;
    const float to_y[3] = {0.299f, 0.587f, 0.114f}, to_cb[3] = {-0.168736f, -0.331264f, 0.5f},
                to_cr[3] = {0.5f, -0.418688f, -0.081312f};
    const float from_y[3] = {1, 1, 1}, from_cb[3] = {0, -0.344136f, 1.772f}, from_cr[3] = {1.402f, -0.714136f, 0};
    const float* to[3] = {to_y, to_cb, to_cr};
    const float* from[3] = {from_y, from_cb, from_cr};
    int64_t off = 0;
    for (int k = 0; k < 3; ++k) {
      JpegComponentGeom& cg = g.comp[k];
      cg.fx = cg.fy = k == 0 ? 1 : 2;
      cg.wb = k == 0 ? 2 : 1, cg.hb = k == 0 ? 4 : 2;  // whole 16x16 MCUs
      cg.rows = (g.h + cg.fy - 1) / cg.fy, cg.offset = off, cg.bias = k == 0 ? 0.0f : 0.004f;
      for (int ch = 0; ch < 3; ++ch) cg.w[ch] = to[k][ch], cg.back[ch] = from[k][ch];
      off += 64 * int64_t(cg.wb) * cg.hb;
    }
    g.m = off;
    const size_t coef = size_t(g.n) * size_t(g.m), image = size_t(g.n) * g.c * g.h * g.w;
    const auto steps = uniform(size_t(g.n) * 3 * 64, ++seed, 0.02f, 0.2f);
    for (JpegGather gather : {JpegGather::Encode, JpegGather::DecodeAdjoint})
      for (BinEpilogue e :
           {BinEpilogue::None, BinEpilogue::Round, BinEpilogue::Apply, BinEpilogue::Mask, BinEpilogue::Residual}) {
        if (gather == JpegGather::DecodeAdjoint && e != BinEpilogue::None) continue;
        Case c;
        c.op = "ops_jpeg_analysis";
        c.params = join({kv("n", g.n), kv("h", g.h), kv("w", g.w), "420",
                         gather == JpegGather::Encode ? "encode" : "decode-adjoint", kv("epilogue", int(e))});
        const int ix = c.in(uniform(image, ++seed, -1.0f, 1.0f)), io = c.out(coef);
        const int icen = c.in(randn(coef, ++seed, 0.5f)), ist = c.in(steps), iin = c.in(randn(coef, ++seed));
        c.run = [=](Device d, const Ptrs& p, Stream s) {
          JpegAnalysisArgs a;
          a.x = P<float>(p, ix), a.out = P<float>(p, io), a.centre = P<float>(p, icen), a.step = P<float>(p, ist);
          a.in = P<float>(p, iin), a.g = g, a.gather = gather, a.epilogue = e;
          ops_jpeg_analysis(d, a, s);
        };
        cs.push_back(std::move(c));
      }
    for (JpegSynth mode : {JpegSynth::Adjoint, JpegSynth::Decode}) {
      Case c;
      c.op = "ops_jpeg_synthesis";
      c.params =
          join({kv("n", g.n), kv("h", g.h), kv("w", g.w), "420", mode == JpegSynth::Adjoint ? "adjoint" : "decode"});
      const int is = c.in(randn(coef, ++seed, 0.5f)), ix = c.out(image);
      c.run = [=](Device d, const Ptrs& p, Stream s) {
        JpegSynthesisArgs a;
        a.samples = P<float>(p, is), a.x = P<float>(p, ix), a.g = g, a.mode = mode;
        ops_jpeg_synthesis(d, a, s);
      };
      cs.push_back(std::move(c));
    }
  }
  {  // ops_spectrum_mul: x[n, c, m] *= f[n, m] (complex)
    const int n = 2, ch = 3;
    const int64_t m = 37;
    Case c;
    c.op = "ops_spectrum_mul";
    c.params = join({kv("n", n), kv("c", ch), kv("m", m)});
    const int ix = c.inout(randn(size_t(n) * ch * size_t(m) * 2, ++seed)),
              iff = c.in(randn(size_t(n) * size_t(m) * 2, ++seed));
    c.run = [=](Device d, const Ptrs& p, Stream s) {
      SpectrumArgs a;
      a.x = P<OpsComplex>(p, ix), a.f = P<OpsComplex>(p, iff), a.n = n, a.c = ch, a.m = m;
      ops_spectrum_mul(d, a, s);
    };
    cs.push_back(std::move(c));
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cs;
  add_network_cases(cs);
  add_backward_cases(cs);
  add_solver_cases(cs);
  add_solver_cases_2(cs);
  add_operator_cases(cs);
  add_operator_cases_2(cs);
  return cs;
}

// ---------------------------------------------------------------- the shared argument checks
// Each bad call must throw a reddiff::Error through the dispatcher on the CPU (the same check guards CUDA).
int check_contract() {
  int failed = 0;
  auto expect_throw = [&](const char* what, const std::function<void()>& f) {
    bool threw = false;
    try {
      f();
    } catch (const Error&) {
      threw = true;
    }
    std::printf("  check %-58s %s\n", what, threw ? "rejected" : "NOT REJECTED");
    if (!threw) ++failed;
  };
  std::vector<float> buf(4096, 1.0f);
  expect_throw("group_norm: 48 channels into 32 groups", [&] {
    GroupNormArgs a;
    a.n = 1, a.hw = 4, a.c = 48, a.groups = 32, a.x = buf.data(), a.y = buf.data(), a.gamma = buf.data(),
    a.beta = buf.data();
    group_norm(Device::CPU, a, nullptr);
  });
  expect_throw("group_norm: f64 activations", [&] {
    GroupNormArgs a;
    a.n = 1, a.hw = 4, a.c = 64, a.x_dtype = DType::F64, a.x = buf.data(), a.y = buf.data(), a.gamma = buf.data(),
    a.beta = buf.data();
    group_norm(Device::CPU, a, nullptr);
  });
  expect_throw("group_norm: scale-shift without its input", [&] {
    GroupNormArgs a;
    a.n = 1, a.hw = 4, a.c = 64, a.mode = NormMod::ScaleShift, a.x = buf.data(), a.y = buf.data(), a.gamma = buf.data(),
    a.beta = buf.data();
    group_norm(Device::CPU, a, nullptr);
  });
  expect_throw("group_norm: modulation rows that overlap (stride below 2C)", [&] {
    GroupNormArgs a;
    a.n = 2, a.hw = 4, a.c = 64, a.mode = NormMod::ScaleShift, a.mod = buf.data(), a.mod_stride = 100, a.x = buf.data(),
    a.y = buf.data(), a.gamma = buf.data(), a.beta = buf.data();
    group_norm(Device::CPU, a, nullptr);
  });
  expect_throw("attention: 64 channels into 3 heads", [&] {
    AttentionArgs a;
    a.n = 1, a.t = 4, a.c = 64, a.heads = 3, a.qkv = buf.data(), a.out = buf.data(), a.workspace = buf.data();
    attention(Device::CPU, a, nullptr);
  });
  expect_throw("attention: no workspace", [&] {
    AttentionArgs a;
    a.n = 1, a.t = 4, a.c = 64, a.heads = 2, a.qkv = buf.data(), a.out = buf.data();
    attention(Device::CPU, a, nullptr);
  });
  expect_throw("avg_pool2: odd input size", [&] {
    ResampleArgs a;
    a.n = 1, a.h = 3, a.w = 2, a.c = 1, a.x = buf.data(), a.y = buf.data();
    avg_pool2(Device::CPU, a, nullptr);
  });
  expect_throw("input_pad: padding wider than the image", [&] {
    InputPadArgs a;
    a.n = 1, a.c = 1, a.h = 4, a.w = 4, a.hp = 9, a.wp = 4, a.x = buf.data(), a.y = buf.data();
    input_pad(Device::CPU, a, nullptr);
  });
  expect_throw("channel_slice: channels out of range", [&] {
    ChannelSliceArgs a;
    a.rows = 2, a.cx = 8, a.offset = 6, a.cy = 4, a.x = buf.data(), a.y = buf.data();
    channel_slice(Device::CPU, a, nullptr);
  });
  expect_throw("ops_pointwise: no output buffer", [&] {
    PointwiseArgs a;
    a.kind = PointwiseKind::Sub, a.a = buf.data(), a.b = buf.data(), a.count = 4;
    ops_pointwise(Device::CPU, a, nullptr);
  });
  expect_throw("ops_pointwise: negative count", [&] {
    PointwiseArgs a;
    a.a = buf.data(), a.out = buf.data(), a.count = -1;
    ops_pointwise(Device::CPU, a, nullptr);
  });
  expect_throw("guided_x0: eps_hat with fewer channels than the image", [&] {
    GuidedX0Args a;
    a.x = buf.data(), a.eps_hat = buf.data(), a.x0 = buf.data(), a.eps_hat_channels = 1, a.n = 1, a.c = 3, a.hw = 4;
    guided_x0(Device::CPU, a, nullptr);
  });
  expect_throw("reddiff_noise: no step scalars", [&] {
    RedDiffNoiseArgs a;
    a.n = 1, a.image_numel = 4, a.mu = buf.data(), a.eps = buf.data(), a.xt = buf.data();
    reddiff_noise(Device::CPU, a, nullptr);
  });
#ifndef REDDIFF_HAVE_CUDA
  expect_throw("silu on Device::CUDA in a build without CUDA", [&] {
    SiluArgs a;
    a.x = buf.data(), a.y = buf.data(), a.n = 4;
    silu(Device::CUDA, a, nullptr);
  });
#endif
  return failed;
}

int usage(const char* argv0, int rc) {
  std::printf(
      "usage: %s [--cpu-only | --perf] [-o OP] [--filter REGEX] [--list] [--quick]\n"
      "  (default)    every case on the CPU and on CUDA, outputs compared (exit 77 when no CUDA device)\n"
      "  --cpu-only   each case's CPU twin twice: deterministic, finite, non-zero; and the argument checks\n"
      "  --perf       time each case on each available backend\n"
      "  -o OP        only the cases of kernel OP (e.g. group_norm)\n"
      "  --filter RE  only the cases whose 'op(params)' matches the regular expression RE\n"
      "  --list       print the cases and exit\n"
      "  --quick      drop the large shapes (also REDDIFF_GPU_QUICK=1)\n",
      argv0);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  bool cpu_only = false, perf = false, list = false;
  std::string only_op, filter;
  const char* q = std::getenv("REDDIFF_GPU_QUICK");
  g_quick = q && *q && std::strcmp(q, "0") != 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cpu-only")
      cpu_only = true;
    else if (a == "--perf")
      perf = true;
    else if (a == "--list")
      list = true;
    else if (a == "--quick")
      g_quick = true;
    else if (a == "-o" && i + 1 < argc)
      only_op = argv[++i];
    else if (a == "--filter" && i + 1 < argc)
      filter = argv[++i];
    else if (a == "-h" || a == "--help")
      return usage(argv[0], 0);
    else {
      std::fprintf(stderr, "test_backend_ops: unknown argument '%s'\n", a.c_str());
      return usage(argv[0], 2);
    }
  }
  std::regex re;
  try {
    re = std::regex(filter.empty() ? ".*" : filter);
  } catch (const std::regex_error&) {
    std::fprintf(stderr, "test_backend_ops: bad --filter regular expression '%s'\n", filter.c_str());
    return 2;
  }
  std::vector<Case> cases;
  for (auto& c : all_cases())
    if ((only_op.empty() || c.op == only_op) && std::regex_search(c.title(), re)) cases.push_back(std::move(c));
  if (list) {
    for (const auto& c : cases) std::printf("%s\n", c.title().c_str());
    return 0;
  }
  if (cases.empty()) {
    std::fprintf(stderr, "test_backend_ops: no case matches\n");
    return 2;
  }

  const bool have_cuda = cuda_available();
  if (!cpu_only && !perf && !have_cuda) {
    std::printf("SKIPPED: no CUDA device (%zu backend-op cases)\n", cases.size());
    return 77;
  }
  std::unique_ptr<Backend> cpu = make_cpu_backend(0), gpu;
  if (have_cuda && !cpu_only) gpu = make_cuda_backend(0);
  std::printf("backends: %s%s%s\n", cpu->name().c_str(), gpu ? " | " : "", gpu ? gpu->name().c_str() : "");

  int failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const Case& c : cases) {
    std::string why;
    try {
      if (perf) {
        std::string line;
        for (Backend* be : {cpu.get(), gpu.get()}) {
          if (!be) continue;
          double ms = 0;
          run_case(c, *be, 1, &ms);  // one call to size the repetitions
          const int reps = std::max(1, std::min(1000, int(50.0 / std::max(ms, 1e-3))));
          run_case(c, *be, reps, &ms);
          char b[64];
          std::snprintf(b, sizeof b, "  %s %10.4f ms", be->device() == Device::CUDA ? "cuda" : "cpu", ms);
          line += b;
        }
        std::printf("%-90s%s\n", c.title().c_str(), line.c_str());
        continue;
      }
      const Outputs ref = run_case(c, *cpu);
      if (cpu_only) {
        const Outputs again = run_case(c, *cpu);
        for (size_t i = 0; i < ref.v.size() && why.empty(); ++i) {
          bool zero = true, finite = true;
          for (double v : ref.v[i]) zero = zero && v == 0.0, finite = finite && std::isfinite(v);
          if (!finite)
            why = ref.what[i] + ": not finite or unwritten";
          else if (zero && !ref.v[i].empty() && !c.zero_ok)
            why = ref.what[i] + ": all zero";
          else if (std::memcmp(ref.v[i].data(), again.v[i].data(), ref.v[i].size() * sizeof(double)) != 0)
            why = ref.what[i] + ": two runs differ";
        }
      } else {
        const Outputs got = run_case(c, *gpu);
        for (size_t i = 0; i < ref.v.size() && why.empty(); ++i) {
          const std::string e = compare(c, c.bufs[ref.buf[i]], got.v[i], ref.v[i]);
          if (!e.empty()) why = ref.what[i] + ": " + e;
        }
      }
    } catch (const std::exception& e) {
      why = std::string("threw: ") + e.what();
    }
    std::printf("%-90s %s%s\n", c.title().c_str(), why.empty() ? "OK" : "FAIL ", why.c_str());
    if (!why.empty()) ++failed;
  }
  if (cpu_only) failed += check_contract();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%zu cases, %d failed (%.1f s)\n", cases.size(), failed, s);
  return failed ? 1 : 0;
}
