// The VJP on CUDA against the CPU backend: every backward kernel twin (GroupNorm, attention, the layout
// adjoints) on random inputs in f32, f16 and bf16, with outputs poisoned before the call (accumulating
// variants start from a known buffer); and the whole network's forward_for_vjp + vjp on small random
// models (every architecture option, a padded 30x22 size), with cuDNN and with the direct-convolution
// fallback. Bounds: relative L2 1e-4 in f32, 3e-2 in f16 (against the f32 CPU engine).
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "kernels/network/attention_backward.h"
#include "kernels/network/group_norm_backward.h"
#include "kernels/network/resample_backward.h"
#include "test_util.h"

using namespace reddiff;

namespace {

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
};

// A host tensor stored in dtype (poisoned when made empty).
struct Host {
  DType dt = DType::F32;
  size_t n = 0;
  std::vector<uint8_t> b;
  Host(DType d, size_t count) : dt(d), n(count), b(count * dtype_size(d), 0xFF) {}
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

std::vector<float> to_f32(const std::vector<uint8_t>& b, DType d) {
  std::vector<float> v(b.size() / dtype_size(d));
  convert_elements(b.data(), d, v.data(), DType::F32, v.size());
  return v;
}

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

// Relative L2 error of gpu against cpu. floor_norm > 0: the error is relative to max(|cpu|, floor_norm) --
// for results that are zero in exact arithmetic (GroupNorm over one element per group), where both twins
// return rounding residue and only the error against the gradient's natural scale means anything.
void compare(const std::vector<float>& gpu, const std::vector<float>& cpu, double bound, const std::string& what,
             double floor_norm = 0) {
  REQUIRE(gpu.size() == cpu.size());
  INFO(what);
  REQUIRE(all_finite(gpu));
  double err = reddiff_test::rel_l2(gpu.data(), cpu.data(), gpu.size());
  if (floor_norm > 0) {
    double d = 0, c = 0;
    for (size_t i = 0; i < gpu.size(); ++i) d += (double(gpu[i]) - cpu[i]) * (double(gpu[i]) - cpu[i]), c += double(cpu[i]) * cpu[i];
    err = std::sqrt(d) / std::max(std::sqrt(c), floor_norm);
  }
  std::printf("%-60s rel L2 %.3g\n", what.c_str(), err);
  INFO("relative L2 error " << err);
  CHECK(err < bound);
}

double kernel_bound(DType d) { return d == DType::F32 ? 1e-5 : d == DType::F16 ? 4e-3 : 3e-2; }

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16};

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

}  // namespace

TEST_CASE("group_norm_backward_cuda matches the CPU twin", "[gpu][vjp]") {
  struct Shape {
    int n, hw, c;
  };
  StreamGuard st;
  uint64_t seed = 1;
  for (Shape sh : {Shape{2, 35, 64}, Shape{1, 256, 96}, Shape{2, 1, 32}, Shape{1, 1024, 128}}) {
    size_t count = size_t(sh.n) * sh.hw * sh.c;
    auto x = reddiff_test::random_normal(count, ++seed, 1.5f), gy = reddiff_test::random_normal(count, ++seed);
    auto base = reddiff_test::random_normal(count, ++seed);
    auto gamma = reddiff_test::random_normal(size_t(sh.c), ++seed, 0.2f), beta = reddiff_test::random_normal(size_t(sh.c), ++seed, 0.2f);
    for (auto& g : gamma) g += 1.0f;
    auto ss = reddiff_test::random_normal(size_t(sh.n) * 2 * sh.c, ++seed, 0.3f);
    auto ab = reddiff_test::random_normal(size_t(sh.n) * sh.c, ++seed, 0.5f);
    Dev dgamma(gamma.size() * 4), dbeta(beta.size() * 4), dss(ss.size() * 4), dab(ab.size() * 4);
    dgamma.put(gamma.data()), dbeta.put(beta.data()), dss.put(ss.data()), dab.put(ab.data());
    for (DType xt : kTypes)
      for (DType gt : {xt, DType::F32})
        for (NormMod mode : {NormMod::None, NormMod::ScaleShift, NormMod::AddBias})
          for (int flags = 0; flags < 4; ++flags) {
            bool silu = flags & 1, acc = flags & 2;
            Host hx = Host::from(x, xt), hg = Host::from(gy, gt), hgx = acc ? Host::from(base, xt) : Host(xt, count);
            GroupNormBackwardArgs a;
            a.x_dtype = xt, a.gy_dtype = gt, a.n = sh.n, a.hw = sh.hw, a.c = sh.c, a.groups = 32, a.eps = 1e-5f;
            a.mode = mode, a.silu = silu, a.accumulate = acc;
            a.x = hx.data(), a.gy = hg.data(), a.gx = hgx.data(), a.gamma = gamma.data(), a.beta = beta.data();
            a.mod = mode == NormMod::ScaleShift ? ss.data() : mode == NormMod::AddBias ? ab.data() : nullptr;
            Dev dx(hx.b.size()), dg(hg.b.size()), dgx(hgx.b.size());
            dx.put(hx.data()), dg.put(hg.data());
            if (acc) dgx.put(Host::from(base, xt).data());
            else dgx.poison();
            group_norm_backward_cpu(a, nullptr);
            a.x = dx.p, a.gy = dg.p, a.gx = dgx.p, a.gamma = static_cast<float*>(dgamma.p), a.beta = static_cast<float*>(dbeta.p);
            a.mod = mode == NormMod::ScaleShift ? static_cast<float*>(dss.p) : mode == NormMod::AddBias ? static_cast<float*>(dab.p) : nullptr;
            group_norm_backward_cuda(a, st.s);
            st.sync();
            // One element per group (hw 1, c = groups): the normalised value is 0 whatever x is, so the exact
            // gradient is 0 (plus the accumulated base) and the twins differ only in rounding residue.
            const bool degenerate = sh.hw * sh.c / a.groups == 1;
            double gy_norm = 0;
            for (float v : gy) gy_norm += double(v) * v;
            compare(to_f32(dgx.get(), xt), hgx.f32(), kernel_bound(xt),
                    std::string("group_norm_backward hw") + std::to_string(sh.hw) + " c" + std::to_string(sh.c) + " " +
                        dtype_name(xt) + "/" + dtype_name(gt) + " mode" + std::to_string(int(mode)) + (silu ? " silu" : "") +
                        (acc ? " acc" : ""),
                    degenerate ? std::sqrt(gy_norm) : 0.0);
          }
  }
}

TEST_CASE("attention_backward_cuda matches the CPU twin in both head orders", "[gpu][vjp]") {
  struct Shape {
    int n, t, c, heads;
  };
  StreamGuard st;
  uint64_t seed = 50;
  for (Shape sh : {Shape{2, 16, 64, 2}, Shape{1, 63, 96, 3}, Shape{2, 256, 128, 4}, Shape{1, 1, 32, 1}}) {
    size_t in_count = size_t(sh.n) * sh.t * 3 * sh.c, out_count = size_t(sh.n) * sh.t * sh.c;
    auto qkv = reddiff_test::random_normal(in_count, ++seed), gy = reddiff_test::random_normal(out_count, ++seed);
    std::vector<float> cpu_ws(attention_backward_workspace_bytes_cpu(sh.n, sh.t, sh.c, sh.heads) / 4 + 1);
    for (DType dt : kTypes)
      for (bool legacy : {true, false}) {
        Host hq = Host::from(qkv, dt), hg = Host::from(gy, dt), hout(dt, in_count);
        AttentionBackwardArgs a;
        a.dtype = dt, a.n = sh.n, a.t = sh.t, a.c = sh.c, a.heads = sh.heads, a.legacy = legacy;
        a.qkv = hq.data(), a.gout = hg.data(), a.gqkv = hout.data(), a.workspace = cpu_ws.data();
        attention_backward_cpu(a, nullptr);
        Dev dq(hq.b.size()), dg(hg.b.size()), dout(hout.b.size()), dws(attention_backward_workspace_bytes_cuda(sh.n, sh.t, sh.c, sh.heads, dt));
        dq.put(hq.data()), dg.put(hg.data());
        dout.poison(), dws.poison();
        a.qkv = dq.p, a.gout = dg.p, a.gqkv = dout.p, a.workspace = dws.p;
        attention_backward_cuda(a, st.s);
        st.sync();
        // The GPU rounds P and dS to the activation dtype for the GEMMs: two more roundings for half types.
        compare(to_f32(dout.get(), dt), hout.f32(), dt == DType::F32 ? 2e-5 : 2 * kernel_bound(dt),
                std::string("attention_backward t") + std::to_string(sh.t) + " c" + std::to_string(sh.c) + " heads" +
                    std::to_string(sh.heads) + " " + dtype_name(dt) + (legacy ? " legacy" : " new"));
      }
  }
}

TEST_CASE("layout backward kernels match their CPU twins", "[gpu][vjp]") {
  StreamGuard st;
  for (DType dt : kTypes)
    for (bool acc : {false, true}) {
      std::string sfx = std::string(" ") + dtype_name(dt) + (acc ? " acc" : "");
      auto run = [&](size_t in_n, DType in_t, size_t out_n, DType out_t, const std::string& what, auto&& setup, auto&& cpu,
                     auto&& gpu) {
        auto in = reddiff_test::random_normal(in_n, in_n + 7);
        auto base = reddiff_test::random_normal(out_n, out_n + 9);
        Host hin = Host::from(in, in_t), hout = acc ? Host::from(base, out_t) : Host(out_t, out_n);
        Dev din(hin.b.size()), dout(hout.b.size());
        din.put(hin.data());
        if (acc) dout.put(hout.data());
        else dout.poison();
        auto a = setup(hin.data(), hout.data());
        cpu(a);
        auto d = setup(din.p, dout.p);
        gpu(d);
        st.sync();
        compare(to_f32(dout.get(), out_t), hout.f32(), kernel_bound(dt), what + sfx);
      };
      int n = 2, h = 6, w = 10, c = 24;
      auto rs = [&](void* i, void* o) {
        ResampleBackwardArgs a;
        a.gy = i, a.gx = o, a.dtype = dt, a.n = n, a.h = h, a.w = w, a.c = c, a.accumulate = acc;
        return a;
      };
      size_t full = size_t(n) * h * w * c;
      run(full / 4, dt, full, dt, "avg_pool2_backward", rs, [](auto& a) { avg_pool2_backward_cpu(a, nullptr); },
          [&](auto& a) { avg_pool2_backward_cuda(a, st.s); });
      run(full * 4, dt, full, dt, "upsample_nearest2_backward", rs, [](auto& a) { upsample_nearest2_backward_cpu(a, nullptr); },
          [&](auto& a) { upsample_nearest2_backward_cuda(a, st.s); });
      auto cs = [&](void* i, void* o) {
        ChannelSliceArgs a;
        a.x = i, a.y = o, a.dtype = dt, a.rows = 70, a.cx = 96, a.offset = 64, a.cy = 32, a.accumulate = acc;
        return a;
      };
      run(70 * 96, dt, 70 * 32, dt, "channel_slice", cs, [](auto& a) { channel_slice_cpu(a, nullptr); },
          [&](auto& a) { channel_slice_cuda(a, st.s); });
      if (acc) {
        auto ga = [&](void* i, void* o) {
          GradAddArgs a;
          a.x = i, a.y = o, a.dtype = dt, a.n = 1000;
          return a;
        };
        run(1000, dt, 1000, dt, "grad_add", ga, [](auto& a) { grad_add_cpu(a, nullptr); }, [&](auto& a) { grad_add_cuda(a, st.s); });
      }
      int pc = 3, ph = 30, pw = 22, hp = 32, wp = 24;
      auto ip = [&](void* i, void* o) {
        InputPadBackwardArgs a;
        a.gy = i, a.gx = static_cast<float*>(o), a.dtype = dt, a.n = n, a.c = pc, a.h = ph, a.w = pw, a.hp = hp, a.wp = wp;
        a.accumulate = acc;
        return a;
      };
      run(size_t(n) * hp * wp * pc, dt, size_t(n) * pc * ph * pw, DType::F32, "input_pad_backward", ip,
          [](auto& a) { input_pad_backward_cpu(a, nullptr); }, [&](auto& a) { input_pad_backward_cuda(a, st.s); });
      auto oc = [&](void* i, void* o) {
        OutputCropBackwardArgs a;
        a.gy = static_cast<const float*>(i), a.gx = o, a.dtype = dt, a.n = n, a.c = pc, a.h = ph, a.w = pw, a.hp = hp, a.wp = wp;
        a.accumulate = acc;
        return a;
      };
      run(size_t(n) * pc * ph * pw, DType::F32, size_t(n) * hp * wp * pc, dt, "output_crop_backward", oc,
          [](auto& a) { output_crop_backward_cpu(a, nullptr); }, [&](auto& a) { output_crop_backward_cuda(a, st.s); });
    }
}

namespace {

ModelConfig small_config(int variant) {
  ModelConfig c;
  c.arch = "adm";
  AdmConfig& a = c.adm;
  a.image_size = 32;
  a.in_channels = 3;
  a.model_channels = 32;
  a.channel_mult = {1, 2, 2};
  a.num_res_blocks = 1;
  a.attention_resolutions = {16, 8};
  a.num_heads = 2;
  a.learn_sigma = true;
  a.out_channels = 6;
  if (variant == 1) {
    a.use_new_attention_order = true;
    a.use_scale_shift_norm = false;
    a.resblock_updown = false;
    a.conv_resample = true;
    a.num_head_channels = 16;
    a.num_classes = 10;
    a.learn_sigma = false;
    a.out_channels = 3;
  } else if (variant == 2) {
    a.resblock_updown = false;
    a.conv_resample = false;
    a.num_res_blocks = 2;
    a.channel_mult = {1, 1, 2};
    a.attention_resolutions = {8};
    a.num_heads = 4;
    a.num_heads_upsample = 2;
  }
  return c;
}

struct Vjp {
  std::vector<float> out, grad;
};

// forward_for_vjp + vjp on one backend (host buffers in and out).
Vjp run_vjp(Network& net, const std::vector<float>& x, const std::vector<float>& t, const std::vector<int32_t>& labels,
            const std::vector<float>& cot, int n, int h, int w) {
  Backend& be = net.backend();
  auto buf = [&](size_t bytes) { return std::shared_ptr<void>(be.alloc(std::max<size_t>(bytes, 4)), [&be](void* p) { be.free(p); }); };
  auto dx = buf(x.size() * 4), dt = buf(t.size() * 4), dl = buf(labels.size() * 4), dc = buf(cot.size() * 4),
       dout = buf(cot.size() * 4), dg = buf(x.size() * 4);
  be.upload(dx.get(), x.data(), x.size() * 4);
  be.upload(dt.get(), t.data(), t.size() * 4);
  if (!labels.empty()) be.upload(dl.get(), labels.data(), labels.size() * 4);
  be.upload(dc.get(), cot.data(), cot.size() * 4);
  if (be.device() == Device::CUDA) REQUIRE(cudaMemset(dg.get(), 0xFF, x.size() * 4) == cudaSuccess);
  net.forward_for_vjp(static_cast<float*>(dx.get()), static_cast<float*>(dt.get()),
                      labels.empty() ? nullptr : static_cast<int32_t*>(dl.get()), static_cast<float*>(dout.get()), n, h, w);
  net.vjp(static_cast<float*>(dc.get()), static_cast<float*>(dg.get()));
  be.synchronize();
  Vjp r;
  r.out.resize(cot.size()), r.grad.resize(x.size());
  be.download(r.out.data(), dout.get(), r.out.size() * 4);
  be.download(r.grad.data(), dg.get(), r.grad.size() * 4);
  return r;
}

void network_vjp_check(bool direct) {
  unsigned hc = std::thread::hardware_concurrency();
  auto cpu = make_cpu_backend(hc ? int(hc) : 2);
  for (int variant = 0; variant < 3; ++variant) {
    auto model = Model::random(small_config(variant), 2000 + uint64_t(variant));
    auto gpu = make_cuda_backend(0);
    int n = 2, h = 30, w = 22;
    const AdmConfig& a = model->config.adm;
    auto x = reddiff_test::random_normal(size_t(n) * a.in_channels * h * w, 5);
    auto cot = reddiff_test::random_normal(size_t(n) * a.out_channels * h * w, 6);
    std::vector<float> t = {17.0f, 803.0f};
    std::vector<int32_t> labels;
    if (a.num_classes > 0) labels = {3, 7};
    Network cnet(*model, *cpu, DType::F32);
    Vjp ref = run_vjp(cnet, x, t, labels, cot, n, h, w);
    REQUIRE(all_finite(ref.grad));
    for (DType prec : {DType::F32, DType::F16}) {
      Network gnet(*model, *gpu, prec);
      Vjp got = run_vjp(gnet, x, t, labels, cot, n, h, w);
      std::string what = std::string("network vjp variant ") + std::to_string(variant) + " 30x22 " + dtype_name(prec) +
                         (direct ? " direct conv" : "");
      compare(got.out, ref.out, prec == DType::F32 ? 1e-4 : 1e-2, what + " (output)");
      compare(got.grad, ref.grad, prec == DType::F32 ? 1e-4 : 3e-2, what + " (grad)");
      std::printf("  vjp plan: %zu bytes (forward plan %zu)\n", gnet.vjp_device_bytes(n, h, w),
                  gnet.compile(n, h, w).plan.arena_bytes);
    }
  }
}

}  // namespace

TEST_CASE("UNet VJP on CUDA matches the CPU backend", "[gpu][vjp][network]") { network_vjp_check(false); }

TEST_CASE("UNet VJP on CUDA with the direct-convolution fallback matches the CPU backend", "[gpu][vjp][network]") {
  setenv("REDDIFF_CONV_DIRECT", "1", 1);
  struct Unset {
    ~Unset() { unsetenv("REDDIFF_CONV_DIRECT"); }
  } unset_env;
  network_vjp_check(true);
}
