// The VJP on CUDA against the CPU backend (the backward kernel twins are compared in the kernel table,
// tests/cuda/backend_ops.cpp): the whole network's forward_for_vjp + vjp on small random
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
#include "tests/cuda/gpu_test_util.h"

using namespace reddiff;

namespace {

using reddiff_gpu_test::all_finite;

// Relative L2 error of gpu against cpu.
void compare(const std::vector<float>& gpu, const std::vector<float>& cpu, double bound, const std::string& what) {
  REQUIRE(gpu.size() == cpu.size());
  INFO(what);
  REQUIRE(all_finite(gpu));
  double err = reddiff_test::rel_l2(gpu.data(), cpu.data(), gpu.size());
  std::printf("%-60s rel L2 %.3g\n", what.c_str(), err);
  INFO("relative L2 error " << err);
  CHECK(err < bound);
}

struct Vjp {
  std::vector<float> out, grad;
};

// forward_for_vjp + vjp on one backend (host buffers in and out).
Vjp run_vjp(Network& net, const std::vector<float>& x, const std::vector<float>& t, const std::vector<int32_t>& labels,
            const std::vector<float>& cot, int n, int h, int w) {
  Backend& be = net.backend();
  auto buf = [&](size_t bytes) {
    return std::shared_ptr<void>(be.alloc(std::max<size_t>(bytes, 4)), [&be](void* p) { be.free(p); });
  };
  auto dx = buf(x.size() * 4), dt = buf(t.size() * 4), dl = buf(labels.size() * 4), dc = buf(cot.size() * 4),
       dout = buf(cot.size() * 4), dg = buf(x.size() * 4);
  be.upload(dx.get(), x.data(), x.size() * 4);
  be.upload(dt.get(), t.data(), t.size() * 4);
  if (!labels.empty()) be.upload(dl.get(), labels.data(), labels.size() * 4);
  be.upload(dc.get(), cot.data(), cot.size() * 4);
  if (be.device() == Device::CUDA) REQUIRE(cudaMemset(dg.get(), 0xFF, x.size() * 4) == cudaSuccess);
  net.forward_for_vjp(static_cast<float*>(dx.get()), static_cast<float*>(dt.get()),
                      labels.empty() ? nullptr : static_cast<int32_t*>(dl.get()), static_cast<float*>(dout.get()), n, h,
                      w);
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
    auto model = Model::random(reddiff_gpu_test::small_adm_config(variant), 2000 + uint64_t(variant));
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
  const reddiff_test::ScopedEnv direct("REDDIFF_CONV_DIRECT", "1");
  network_vjp_check(true);
}
