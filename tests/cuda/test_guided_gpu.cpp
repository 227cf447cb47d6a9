// The DPS / PiGDM kernel twins (kernels/solver/guided_step.h): every CUDA kernel against its CPU twin on random
// non-zero inputs, with outputs poisoned (NaN) on both sides so that an unwritten element is caught; and
// both solvers end to end on CUDA against the CPU, with the network replaced by the exact eps-predictor of
// a Gaussian prior (evaluated on the host), so that the operators and kernels on the device are what differ.
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "kernels/solver/guided_step.h"
#include "operators/operator.h"
#include "solvers/dps_solver.h"
#include "solvers/pigdm_solver.h"
#include "test_util.h"

using namespace reddiff;

namespace {

struct Dev {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Dev(size_t b) : bytes(b) { REQUIRE(cudaMalloc(&p, b) == cudaSuccess); }
  template <typename T>
  Dev(const std::vector<T>& h) : Dev(h.size() * sizeof(T)) {
    REQUIRE(cudaMemcpy(p, h.data(), bytes, cudaMemcpyHostToDevice) == cudaSuccess);
  }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
  template <typename T>
  std::vector<T> get() const {
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    std::vector<T> h(bytes / sizeof(T));
    REQUIRE(cudaMemcpy(h.data(), p, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
  }
};

std::vector<float> nan_vec(size_t n) { return std::vector<float>(n, std::nanf("")); }

template <typename T>
void compare(const std::vector<T>& gpu, const std::vector<T>& cpu, double rtol, const std::string& what) {
  REQUIRE(gpu.size() == cpu.size());
  double ss = 0;
  for (T v : cpu) ss += double(v) * double(v);
  const double atol = rtol * std::sqrt(ss / double(cpu.size() ? cpu.size() : 1));
  size_t bad = 0, first = size_t(-1);
  for (size_t i = 0; i < cpu.size(); ++i) {
    const bool ok = std::isfinite(double(gpu[i])) && std::isfinite(double(cpu[i])) &&
                    std::fabs(double(gpu[i]) - double(cpu[i])) <= atol + rtol * std::fabs(double(cpu[i]));
    if (!ok && bad++ == 0) first = i;
  }
  std::ostringstream os;
  os << what << ": " << bad << " of " << cpu.size() << " elements differ";
  if (bad) os << "; first at " << first << ": gpu " << gpu[first] << " cpu " << cpu[first];
  INFO(os.str());
  CHECK(bad == 0);
}

constexpr int N = 2, C = 3, H = 17, W = 13;
constexpr int64_t HW = int64_t(H) * W, IMG = C * HW;

}  // namespace

TEST_CASE("guided_init, guided_x0 and image_moments match their CPU twins", "[gpu][kernels][guided]") {
  std::vector<uint64_t> ids{3, 0x1234567890ull};
  Dev did(ids);
  auto base = reddiff_test::random_normal(size_t(N * IMG), 1, 0.7f);
  Dev dbase(base);
  {
    GuidedInitArgs a;
    a.seed = 9, a.n = N, a.image_numel = IMG, a.a = 0.3f, a.b = 0.9f;
    auto hx = nan_vec(size_t(N * IMG));
    Dev dx(hx);
    a.x = hx.data(), a.base = base.data(), a.image_ids = ids.data();
    guided_init_cpu(a, nullptr);
    a.x = dx.as<float>(), a.base = dbase.as<float>(), a.image_ids = did.as<uint64_t>();
    guided_init_cuda(a, nullptr);
    compare(dx.get<float>(), hx, 1e-5, "guided_init");
  }
  for (int out_c : {3, 6})
    for (bool clip : {false, true}) {
      auto x = reddiff_test::random_normal(size_t(N * IMG), 2, 1.0f), e = reddiff_test::random_normal(size_t(N * out_c * HW), 3, 1.0f);
      Dev dx(x), de(e);
      auto h0 = nan_vec(x.size());
      Dev d0(h0);
      GuidedX0Args a;
      a.eps_hat_channels = out_c, a.n = N, a.c = C, a.hw = HW, a.recip = 1.7f, a.recipm1 = 1.3f, a.clip = clip;
      a.x = x.data(), a.eps_hat = e.data(), a.x0 = h0.data();
      guided_x0_cpu(a, nullptr);
      a.x = dx.as<float>(), a.eps_hat = de.as<float>(), a.x0 = d0.as<float>();
      guided_x0_cuda(a, nullptr);
      compare(d0.get<float>(), h0, 1e-6, "guided_x0 out_c " + std::to_string(out_c) + (clip ? " clipped" : ""));
    }
  for (bool with_b : {false, true}) {
    const int64_t numel = 3 * 40 * 37;  // more elements than the block has threads
    auto va = reddiff_test::random_normal(size_t(N * numel), 4, 1.0f), vb = reddiff_test::random_normal(size_t(N * numel), 5, 1.0f);
    Dev da(va), db(vb);
    auto hd = nan_vec(va.size());
    Dev dd(hd);
    std::vector<double> hs(2 * N, std::nan("")), init = hs;
    Dev ds(init);
    ImageMomentsArgs m;
    m.n = N, m.image_numel = numel;
    m.a = va.data(), m.b = with_b ? vb.data() : nullptr, m.diff = hd.data(), m.sums = hs.data();
    image_moments_cpu(m, nullptr);
    m.a = da.as<float>(), m.b = with_b ? db.as<float>() : nullptr, m.diff = dd.as<float>(), m.sums = ds.as<double>();
    image_moments_cuda(m, nullptr);
    compare(dd.get<float>(), hd, 1e-7, "image_moments difference");
    compare(ds.get<double>(), hs, 1e-9, "image_moments sums");
  }
}

TEST_CASE("dps_cotangent and dps_update match their CPU twins", "[gpu][kernels][guided]") {
  std::vector<uint64_t> ids{7, 8};
  Dev did(ids);
  for (int out_c : {3, 6}) {
    INFO("out_c " << out_c);
    auto x = reddiff_test::random_normal(size_t(N * IMG), 11, 1.0f), e = reddiff_test::random_normal(size_t(N * out_c * HW), 12, 1.0f);
    auto g = reddiff_test::random_normal(size_t(N * IMG), 13, 1.0f), x0 = reddiff_test::random_normal(size_t(N * IMG), 14, 0.5f);
    auto gx = reddiff_test::random_normal(size_t(N * IMG), 15, 1.0f);
    for (size_t i = 0; i < e.size(); ++i) e[i] = std::tanh(e[i]);  // v in [-1, 1]
    std::vector<double> sums{1.0, 4.0, -2.0, 0.0};                 // the second image: a zero residual
    Dev dx(x), de(e), dg(g), dx0(x0), dgx(gx), ds(sums);

    DpsCotangentArgs c;
    c.eps_hat_channels = out_c, c.n = N, c.c = C, c.hw = HW, c.recip = 1.5f, c.recipm1 = 1.1f;
    auto hg = g;
    auto hcot = nan_vec(size_t(N * out_c * HW));
    Dev dcot(hcot);
    c.x = x.data(), c.eps_hat = e.data(), c.g = hg.data(), c.sums = sums.data(), c.cot = hcot.data();
    dps_cotangent_cpu(c, nullptr);
    c.x = dx.as<float>(), c.eps_hat = de.as<float>(), c.g = dg.as<float>(), c.sums = ds.as<double>(), c.cot = dcot.as<float>();
    dps_cotangent_cuda(c, nullptr);
    compare(dg.get<float>(), hg, 1e-6, "dps_cotangent g");
    compare(dcot.get<float>(), hcot, 1e-6, "dps_cotangent cotangent");

    for (bool noise : {true, false}) {
      DpsUpdateArgs u;
      u.eps_hat_channels = out_c, u.learned_sigma = out_c == 6, u.seed = 5, u.step = 17, u.n = N, u.c = C, u.hw = HW;
      u.coef1 = 0.3f, u.coef2 = 0.9f, u.recip = 1.4f, u.zeta = 0.6f, u.log_var_min = -6.0f, u.log_var_max = -3.5f, u.noise = noise;
      auto hx = x;
      Dev dxx(x);
      u.x = hx.data(), u.x0 = x0.data(), u.eps_hat = e.data(), u.g = g.data(), u.gx = gx.data(), u.image_ids = ids.data();
      dps_update_cpu(u, nullptr);
      Dev dg_orig(g);  // dg was changed by the cotangent kernel above: the original g on both sides
      u.x = dxx.as<float>(), u.x0 = dx0.as<float>(), u.eps_hat = de.as<float>(), u.g = dg_orig.as<float>(), u.gx = dgx.as<float>();
      u.image_ids = did.as<uint64_t>();
      dps_update_cuda(u, nullptr);
      compare(dxx.get<float>(), hx, 1e-5, std::string("dps_update") + (noise ? " with noise" : ""));
    }
  }
}

TEST_CASE("pigdm_cotangent and pigdm_update match their CPU twins", "[gpu][kernels][guided]") {
  std::vector<uint64_t> ids{21, 22};
  Dev did(ids);
  for (int out_c : {3, 6})
    for (float contrast : {0.0f, 40.0f}) {
      INFO("out_c " << out_c << " contrast " << contrast);
      auto x0 = reddiff_test::random_normal(size_t(N * IMG), 31, 0.6f), py = reddiff_test::random_normal(size_t(N * IMG), 32, 0.6f);
      auto g = reddiff_test::random_normal(size_t(N * IMG), 33, 0.6f);
      std::vector<double> sums(2 * N);
      for (int n = 0; n < N; ++n)
        for (int64_t e = 0; e < IMG; ++e) sums[size_t(2 * n)] += x0[size_t(n * IMG + e)], sums[size_t(2 * n + 1)] += double(x0[size_t(n * IMG + e)]) * x0[size_t(n * IMG + e)];
      Dev dx0(x0), dpy(py), dg(g), ds(sums);
      PigdmCotangentArgs c;
      c.contrast = contrast, c.eps_hat_channels = out_c, c.n = N, c.c = C, c.hw = HW, c.recipm1 = 0.8f;
      auto hg = g;
      auto hcot = nan_vec(size_t(N * out_c * HW));
      Dev dcot(hcot);
      c.x0 = x0.data(), c.pinv_y = py.data(), c.g = hg.data(), c.x0_sums = sums.data(), c.cot = hcot.data();
      pigdm_cotangent_cpu(c, nullptr);
      c.x0 = dx0.as<float>(), c.pinv_y = dpy.as<float>(), c.g = dg.as<float>(), c.x0_sums = ds.as<double>(), c.cot = dcot.as<float>();
      pigdm_cotangent_cuda(c, nullptr);
      compare(dg.get<float>(), hg, 1e-5, "pigdm_cotangent g");
      compare(dcot.get<float>(), hcot, 1e-5, "pigdm_cotangent cotangent");
    }
  for (bool masked : {false, true})
    for (float c1 : {0.0f, 0.4f}) {
      INFO("mask " << masked << " c1 " << c1);
      const int out_c = 6;
      auto x = reddiff_test::random_normal(size_t(N * IMG), 41, 1.0f), x0 = reddiff_test::random_normal(size_t(N * IMG), 42, 0.6f);
      auto e = reddiff_test::random_normal(size_t(N * out_c * HW), 43, 1.0f), g = reddiff_test::random_normal(size_t(N * IMG), 44, 1.0f);
      auto gx = reddiff_test::random_normal(size_t(N * IMG), 45, 1.0f), py = reddiff_test::random_normal(size_t(N * IMG), 46, 0.5f);
      std::vector<float> mask(size_t(N * HW));
      for (size_t i = 0; i < mask.size(); ++i) mask[i] = float((i * 7) % 3 == 0);
      Dev dx(x), dx0(x0), de(e), dg(g), dgx(gx), dpy(py), dm(mask);
      PigdmUpdateArgs u;
      u.eps_hat_channels = out_c, u.seed = 6, u.step = 3, u.n = N, u.c = C, u.hw = HW;
      u.sqrt_abar_s = 0.7f, u.c1 = c1, u.c2 = 0.5f, u.coeff = 0.45f, u.recip = 1.6f;
      auto hx = x;
      u.x = hx.data(), u.x0 = x0.data(), u.eps_hat = e.data(), u.g = g.data(), u.gx = gx.data();
      u.mask = masked ? mask.data() : nullptr, u.pinv_y = py.data(), u.image_ids = ids.data();
      pigdm_update_cpu(u, nullptr);
      u.x = dx.as<float>(), u.x0 = dx0.as<float>(), u.eps_hat = de.as<float>(), u.g = dg.as<float>(), u.gx = dgx.as<float>();
      u.mask = masked ? dm.as<float>() : nullptr, u.pinv_y = dpy.as<float>(), u.image_ids = did.as<uint64_t>();
      pigdm_update_cuda(u, nullptr);
      compare(dx.get<float>(), hx, 1e-5, "pigdm_update");
    }
}

namespace {

// x0 ~ N(m, c I): eps(x_t) = k_t (x_t - sqrt(ab) m), J = k_t I; v = tanh(x_t) in a 6-channel output.
// Evaluated on the host; device buffers go through the backend's (stream-ordered) download/upload.
struct HostPrior {
  Backend* be = nullptr;
  std::vector<float> m;
  double c = 0.5;
  std::vector<double> abar;
  int out_c = 6, last_t = 0, last_n = 0;
  int64_t img = 0;
  EpsVjpFunctions functions() {
    EpsVjpFunctions f;
    f.out_channels = out_c;
    f.forward = [this](const float* x, int t, float* out, int n, int, int) {
      last_t = t, last_n = n;
      const double ab = abar[size_t(t)], k = std::sqrt(1 - ab) / (ab * c + 1 - ab);
      const int64_t oimg = img * out_c / 3;
      std::vector<float> hx(size_t(n * img)), ho(size_t(n * oimg));
      be->download(hx.data(), x, hx.size() * 4);
      for (int i = 0; i < n; ++i)
        for (int64_t e = 0; e < img; ++e) {
          ho[size_t(i * oimg + e)] = float(k * (hx[size_t(i * img + e)] - std::sqrt(ab) * m[size_t(e)]));
          if (out_c == 6) ho[size_t(i * oimg + img + e)] = std::tanh(hx[size_t(i * img + e)]);
        }
      be->upload(out, ho.data(), ho.size() * 4);
    };
    f.vjp = [this](const float* cot, float* gx) {
      const double ab = abar[size_t(last_t)], k = std::sqrt(1 - ab) / (ab * c + 1 - ab);
      const int64_t oimg = img * out_c / 3;
      std::vector<float> hc(size_t(last_n * oimg)), hg(size_t(last_n * img));
      be->download(hc.data(), cot, hc.size() * 4);
      for (int i = 0; i < last_n; ++i)
        for (int64_t e = 0; e < img; ++e) hg[size_t(i * img + e)] = float(k * hc[size_t(i * oimg + e)]);
      be->upload(gx, hg.data(), hg.size() * 4);
    };
    return f;
  }
};

std::vector<float> run_solver(Device dev, const std::string& algo, const OperatorOptions& oo, int out_c) {
  ModelConfig mc;
  named_architecture("ffhq256", &mc);
  mc.adm.model_channels = 32, mc.adm.channel_mult = {1}, mc.adm.attention_resolutions = {};
  auto model = Model::random(mc, 1);  // stands in: the prior replaces the network
  auto be = dev == Device::CUDA ? make_cuda_backend(0) : make_cpu_backend(2);
  Network net(*model, *be, DType::F32);
  const Shape4 xs{2, 3, 16, 16};
  std::vector<uint64_t> ids{4, 9};
  HostPrior P;
  P.be = be.get(), P.m = reddiff_test::random_normal(size_t(xs.image_numel()), 71, 0.8f), P.abar = mc.schedule.alphas_cumprod();
  P.out_c = out_c, P.img = xs.image_numel();
  auto A = make_operator(oo, xs, ids, dev);
  auto x_true = reddiff_test::random_normal(size_t(xs.numel()), 72, 0.5f);
  std::vector<float> y(size_t(A->measurement_shape().numel())), x(size_t(xs.numel()));
  apply_on_host(*A, x_true.data(), y.data());
  void* dy = be->alloc(y.size() * 4);
  void* dx = be->alloc(x.size() * 4);
  be->upload(dy, y.data(), y.size() * 4);
  if (algo == "dps") {
    DpsOptions o;
    o.steps = 25, o.zeta = 0.4, o.seed = 8;
    DpsSolver solver(net, o);
    solver.set_network_functions(P.functions());
    solver.solve(*A, static_cast<float*>(dy), static_cast<float*>(dx), ids);
  } else {
    PigdmOptions o;
    o.steps = 10, o.eta = 0.7, o.weight = 1.2, o.contrast = 3.0, o.seed = 8;
    PigdmSolver solver(net, o);
    solver.set_network_functions(P.functions());
    solver.solve(*A, static_cast<float*>(dy), static_cast<float*>(dx), ids);
  }
  be->download(x.data(), dx, x.size() * 4);
  be->free(dy);
  be->free(dx);
  return x;
}

}  // namespace

TEST_CASE("DPS and PiGDM on CUDA match the CPU (analytic network)", "[gpu][solver][guided]") {
  struct Case {
    std::string algo, task;
    int out_c;
  };
  for (const Case& c : {Case{"dps", "sr", 6}, Case{"dps", "inpaint", 3}, Case{"pigdm", "sr", 6}, Case{"pigdm", "inpaint", 3}}) {
    INFO(c.algo << " " << c.task << " out_c " << c.out_c);
    OperatorOptions oo;
    oo.task = c.task, oo.scale = 2, oo.mask = "random", oo.fraction = 0.5;
    auto cpu = run_solver(Device::CPU, c.algo, oo, c.out_c), gpu = run_solver(Device::CUDA, c.algo, oo, c.out_c);
    double err = reddiff_test::rel_l2(gpu.data(), cpu.data(), cpu.size());
    INFO("relative L2 difference " << err);
    CHECK(err < 1e-3);
    bool finite = true;
    for (float v : gpu) finite = finite && std::isfinite(v);
    CHECK(finite);
  }
}
