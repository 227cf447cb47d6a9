// DDRM on CUDA against the CPU: the operators' SVD views (operators/svd.h), the step kernels
// (kernels/solver/ddrm_step.h) with the keyed noise, and a whole solver run with a small random network.
#include <catch2/catch.hpp>

#ifdef REDDIFF_HAVE_CUDA
#include <cuda_runtime.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "kernels/solver/ddrm_step.h"
#include "operators/operator.h"
#include "operators/svd.h"
#include "solvers/ddrm_solver.h"
#include "test_util.h"
#include "tests/cuda/gpu_test_util.h"

using namespace reddiff;

namespace {

using reddiff_gpu_test::max_diff;
using reddiff_gpu_test::max_rel;
template <typename T>
using Dev = reddiff_gpu_test::DeviceArray<T>;

}  // namespace

TEST_CASE("SVD views: CUDA matches CPU for V^T, V, U^T, U and the singular values", "[gpu][ddrm]") {
  const Shape4 xs{2, 3, 40, 56};
  const std::vector<uint64_t> ids{4, 6};
  std::vector<std::pair<std::string, OperatorOptions>> cases;
  auto add = [&](std::string name, std::string task, auto f) {
    OperatorOptions o;
    o.task = task;
    f(o);
    cases.push_back({name, o});
  };
  add("denoise", "denoise", [](OperatorOptions&) {});
  add("inpaint freeform", "inpaint", [](OperatorOptions& o) { o.mask = "freeform", o.seed = 3; });
  add("colorize", "colorize", [](OperatorOptions&) {});
  add("sr pool x4", "sr", [](OperatorOptions& o) { o.scale = 4; });
  add("sr bicubic x2", "sr", [](OperatorOptions& o) { o.scale = 2, o.sr_kernel = "bicubic"; });
  add("deblur gaussian", "deblur", [](OperatorOptions& o) { o.blur_sigma = 2.0; });
  add("deblur uniform", "deblur", [](OperatorOptions& o) { o.blur = "uniform", o.blur_size = 5; });
  for (auto& [name, o] : cases) {
    SECTION(name) {
      auto cpu = make_svd_operator(o, xs, ids, reddiff_test::cpu_backend());
      auto gpu = make_svd_operator(o, xs, ids, reddiff_gpu_test::gpu_backend());
      REQUIRE(gpu->device() == Device::CUDA);
      CHECK(cpu->singulars_host() == gpu->singulars_host());
      std::vector<float> s_dev(size_t(xs.numel()));
      REQUIRE(cudaMemcpy(s_dev.data(), gpu->singulars(), s_dev.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
      CHECK(s_dev == cpu->singulars_host());
      const size_t nx = size_t(xs.numel()), ny = size_t(cpu->measurement_shape().numel());
      auto x = reddiff_gpu_test::uniform(nx, 1), y = reddiff_gpu_test::uniform(ny, 2);
      std::vector<float> c1(nx), c2(nx), c3(nx), c4(ny);
      cpu->vt(x.data(), c1.data());
      cpu->v(x.data(), c2.data());
      cpu->ut(y.data(), c3.data());
      cpu->u(x.data(), c4.data());
      Dev<float> dx(x), dy(y), g1(nx), g2(nx), g3(nx), g4(ny);
      gpu->vt(dx.p, g1.p);
      gpu->v(dx.p, g2.p);
      gpu->ut(dy.p, g3.p);
      gpu->u(dx.p, g4.p);
      INFO(name);
      CHECK(max_diff(g1.host(), c1) < 1e-5);
      CHECK(max_diff(g2.host(), c2) < 1e-5);
      CHECK(max_diff(g3.host(), c3) < 1e-5);
      CHECK(max_diff(g4.host(), c4) < 1e-5);
    }
  }
}

TEST_CASE("DDRM step kernels: CUDA matches CPU, keyed noise included", "[gpu][ddrm]") {
  const int n = 3, c = 3;
  const int64_t hw = 37 * 29, img = c * hw, nx = n * img;
  const std::vector<uint64_t> ids{11, 2, 7};
  Dev<uint64_t> dids(ids);

  // prepare, from a 6-channel network output
  auto xt = reddiff_gpu_test::uniform(size_t(nx), 3), eh = reddiff_gpu_test::uniform(size_t(n * 2 * img), 4);
  std::vector<float> x0(static_cast<size_t>(nx)), ec(static_cast<size_t>(nx));
  DdrmPrepareArgs pa;
  pa.xt = xt.data(), pa.eps_hat = eh.data(), pa.eps_hat_channels = 2 * c, pa.x0 = x0.data(), pa.eps = ec.data();
  pa.n = n, pa.c = c, pa.hw = hw, pa.sqrt_abar = 0.3f, pa.sqrt_1m_abar = std::sqrt(1 - 0.09f);
  ddrm_prepare_cpu(pa, nullptr);
  Dev<float> dxt(xt), deh(eh), dx0(static_cast<size_t>(nx)), dec(static_cast<size_t>(nx));
  DdrmPrepareArgs pg = pa;
  pg.xt = dxt.p, pg.eps_hat = deh.p, pg.x0 = dx0.p, pg.eps = dec.p;
  ddrm_prepare_cuda(pg, nullptr);
  CHECK(max_diff(dx0.host(), x0) < 1e-5);
  CHECK(dec.host() == ec);

  // singular values in every case: 0, small (less noisy than y), large (noisier than y)
  auto s = reddiff_gpu_test::uniform(size_t(nx), 5);
  for (auto& v : s) v = v < -0.3f ? 0.0f : std::fabs(v) * 2.0f;
  auto uty = reddiff_gpu_test::uniform(size_t(nx), 6), vx0 = reddiff_gpu_test::uniform(size_t(nx), 7),
       ve = reddiff_gpu_test::uniform(size_t(nx), 8);
  Dev<float> ds(s), duty(uty), dve(ve);
  for (float sigma_next : {30.0f, 0.4f, 0.05f, 0.0f}) {
    DdrmUpdateArgs ua;
    std::vector<float> v = vx0;
    ua.v = v.data(), ua.v_eps = ve.data(), ua.uty = uty.data(), ua.s = s.data(), ua.image_ids = ids.data();
    ua.seed = 9, ua.step = 4, ua.n = n, ua.image_numel = img;
    ua.sigma_next = sigma_next, ua.sigma_0 = 0.1f, ua.eta = 0.85f, ua.eta_b = 0.8f, ua.sqrt_abar_next = 0.7f;
    ddrm_update_cpu(ua, nullptr);
    Dev<float> dv(vx0);
    DdrmUpdateArgs ug = ua;
    ug.v = dv.p, ug.v_eps = dve.p, ug.uty = duty.p, ug.s = ds.p, ug.image_ids = dids.p;
    ddrm_update_cuda(ug, nullptr);
    INFO("sigma_next " << sigma_next);
    CHECK(max_rel(dv.host(), v) < 1e-5);
  }
  DdrmInitArgs ia;
  std::vector<float> v0(static_cast<size_t>(nx));
  ia.v = v0.data(), ia.uty = uty.data(), ia.s = s.data(), ia.image_ids = ids.data(), ia.seed = 9, ia.n = n;
  ia.image_numel = img, ia.sigma_T = 20.0f, ia.sigma_0 = 0.1f;
  ddrm_init_cpu(ia, nullptr);
  Dev<float> dv0(static_cast<size_t>(nx));
  DdrmInitArgs ig = ia;
  ig.v = dv0.p, ig.uty = duty.p, ig.s = ds.p, ig.image_ids = dids.p;
  ddrm_init_cuda(ig, nullptr);
  CHECK(max_rel(dv0.host(), v0) < 1e-5);
}

TEST_CASE("DDRM solver: CUDA matches CPU on a small random network", "[gpu][ddrm]") {
  ModelConfig mc;
  named_architecture("ffhq256", &mc);
  mc.adm.model_channels = 32, mc.adm.channel_mult = {1, 2}, mc.adm.attention_resolutions = {16};
  mc.adm.num_head_channels = 32;
  auto model = Model::random(mc, 5);
  auto cpu = make_cpu_backend(0);
  auto gpu = make_cuda_backend(0);
  Network cnet(*model, *cpu, DType::F32), gnet(*model, *gpu, DType::F32);
  const Shape4 xs{2, 3, 32, 32};
  const std::vector<uint64_t> ids{1, 2};
  for (std::string task : {"inpaint", "sr"}) {
    SECTION(task) {
      OperatorOptions o;
      o.task = task, o.mask = "random", o.fraction = 0.5, o.scale = 2, o.sigma_y = 0.05;
      auto A = make_operator(o, xs, ids, *cpu);
      auto x = reddiff_test::random_normal(size_t(xs.numel()), 3, 0.5f);
      std::vector<float> y(size_t(A->measurement_shape().numel())), out_c(size_t(xs.numel()));
      A->apply(x.data(), y.data());
      DdrmOptions d;
      d.steps = 5, d.seed = 4;
      DdrmSolver sc(cnet, d), sg(gnet, d);
      sc.solve(*make_svd_operator(o, xs, ids, *cpu), y.data(), out_c.data(), ids);
      Dev<float> dy(y), dout(static_cast<size_t>(xs.numel()));
      sg.solve(*make_svd_operator(o, xs, ids, *gpu), dy.p, dout.p, ids);
      const auto out_g = dout.host();
      const double err = reddiff_test::rel_l2(out_g.data(), out_c.data(), out_c.size());
      INFO(task << ": rel L2 CUDA vs CPU " << err);
      CHECK(err < 5e-3);
    }
  }
}

#else
TEST_CASE("ddrm: CUDA build disabled", "[gpu][ddrm]") { SUCCEED("no CUDA"); }
#endif
