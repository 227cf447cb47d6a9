// DPS and PiGDM end to end on CUDA against the CPU, with the network replaced by the exact eps-predictor of
// a Gaussian prior (evaluated on the host), so that the operators and kernels on the device are what differ.
// (Their kernel twins, kernels/solver/guided_step.h, are compared in the kernel table, backend_ops.cpp.)
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "operators/operator.h"
#include "solvers/dps_solver.h"
#include "solvers/pigdm_solver.h"
#include "test_util.h"

using namespace reddiff;

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
  P.be = be.get(), P.m = reddiff_test::random_normal(size_t(xs.image_numel()), 71, 0.8f),
  P.abar = mc.schedule.alphas_cumprod();
  P.out_c = out_c, P.img = xs.image_numel();
  auto A = make_operator(oo, xs, ids, *be);
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
  for (const Case& c :
       {Case{"dps", "sr", 6}, Case{"dps", "inpaint", 3}, Case{"pigdm", "sr", 6}, Case{"pigdm", "inpaint", 3}}) {
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
