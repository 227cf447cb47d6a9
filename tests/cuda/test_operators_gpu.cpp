// Degradation operators: the CUDA implementation against the CPU one, for every operator and map
// (apply, vjp, pinv, residual_vjp), on random inputs.
#include <catch2/catch.hpp>

#ifdef REDDIFF_HAVE_CUDA
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/npy.h"
#include "operators/bins.h"
#include "operators/operator.h"
#include "test_util.h"
#include "tests/cuda/gpu_test_util.h"

using namespace reddiff;

namespace {

using reddiff_gpu_test::max_abs;
using reddiff_gpu_test::max_diff;
using Dev = reddiff_gpu_test::DeviceArray<float>;

OperatorOptions opts(const std::string& task, std::function<void(OperatorOptions&)> f = nullptr) {
  OperatorOptions o;
  o.task = task;
  if (f) f(o);
  return o;
}

std::string kernel_file() {
  const char* td = std::getenv("REDDIFF_TESTDATA");
  const std::string dir = std::string(td ? td : REDDIFF_TESTDATA) + "/operators_gpu_tmp";
  std::filesystem::create_directories(dir);
  const std::string p = dir + "/k.npy";
  auto k = reddiff_gpu_test::uniform(7 * 4, 5);
  for (auto& v : k) v = std::fabs(v);
  write_npy(p, {7, 4}, k.data());
  return p;
}

// jpeg: n files of random images encoded by libjpeg (sub: 444|422|420|grey), bound to the operator.
OperatorOptions jpeg_opts(const std::string& sub, int n, int h, int w, int quality, const std::string& data_term) {
  OperatorOptions o = opts("jpeg");
  o.data_term = data_term;
  const int c = sub == "grey" ? 1 : 3;
  for (int i = 0; i < n; ++i) {
    const auto img = reddiff_gpu_test::uniform(size_t(c) * h * w, 40 + uint32_t(i));
    JpegEncodeOptions e;
    e.quality = quality + 10 * i;
    e.subsampling = sub == "grey" ? "420" : sub;
    const auto bytes = encode_jpeg(img.data(), c, h, w, e);
    o.jpeg_files.push_back(std::make_shared<const JpegCoefficients>(read_jpeg_memory(bytes.data(), bytes.size())));
  }
  return o;
}
OperatorOptions quant_opts(int bits, Shape4 s, const std::string& data_term) {
  OperatorOptions o = opts("quant");
  o.quant_bits = bits;
  o.data_term = data_term;
  o.quant_image = std::make_shared<const std::vector<float>>(reddiff_gpu_test::uniform(size_t(s.numel()), 50));
  return o;
}

struct Case {
  std::string name;
  OperatorOptions o;
  Shape4 shape;
  double tol;
};

std::vector<Case> cases() {
  const Shape4 s{2, 3, 40, 56};
  return {
      {"denoise", opts("denoise"), s, 1e-6},
      {"hdr", opts("hdr"), s, 1e-6},
      {"colorize", opts("colorize"), s, 1e-6},
      {"inpaint box", opts("inpaint"), s, 1e-6},
      {"inpaint freeform",
       opts("inpaint",
            [](OperatorOptions& o) {
              o.mask = "freeform";
              o.seed = 3;
            }),
       s, 1e-6},
      {"inpaint random inverted",
       opts("inpaint",
            [](OperatorOptions& o) {
              o.mask = "random";
              o.invert = true;
            }),
       s, 1e-6},
      {"sr pool x2", opts("sr", [](OperatorOptions& o) { o.scale = 2; }), s, 1e-5},
      {"sr pool x8", opts("sr", [](OperatorOptions& o) { o.scale = 8; }), s, 1e-5},
      {"sr bicubic x2",
       opts("sr",
            [](OperatorOptions& o) {
              o.scale = 2;
              o.sr_kernel = "bicubic";
            }),
       s, 1e-5},
      {"sr bicubic x4", opts("sr", [](OperatorOptions& o) { o.sr_kernel = "bicubic"; }), s, 1e-5},
      {"deblur gaussian", opts("deblur"), s, 1e-5},
      {"deblur uniform",
       opts("deblur",
            [](OperatorOptions& o) {
              o.blur = "uniform";
              o.blur_size = 5;
            }),
       s, 1e-5},
      {"deblur motion 31",
       opts("deblur",
            [](OperatorOptions& o) {
              o.blur = "motion";
              o.blur_size = 31;
            }),
       s, 1e-5},
      {"deblur file 7x4", opts("deblur", [](OperatorOptions& o) { o.blur = kernel_file(); }), s, 1e-5},
      {"deblur motion 61 on 256x256", opts("deblur", [](OperatorOptions& o) { o.blur = "motion"; }),
       Shape4{1, 3, 256, 256}, 1e-5},
      {"deblur motion 111 (kernel beyond shared memory)",
       opts("deblur",
            [](OperatorOptions& o) {
              o.blur = "motion";
              o.blur_size = 111;
            }),
       Shape4{1, 3, 128, 120}, 1e-5},
      {"phase-retrieval", opts("phase-retrieval"), s, 1e-4},
      {"phase-retrieval oversample 1, odd sizes",
       opts("phase-retrieval", [](OperatorOptions& o) { o.oversample = 1.0; }), Shape4{1, 3, 37, 29}, 1e-4},
      {"phase-retrieval 256x256", opts("phase-retrieval"), Shape4{1, 3, 256, 256}, 1e-4},
      {"jpeg 4:2:0 37x23, two files, interval", jpeg_opts("420", 2, 23, 37, 30, "interval"), Shape4{2, 3, 23, 37},
       1e-5},
      {"jpeg 4:2:2 40x56, l2", jpeg_opts("422", 2, 40, 56, 50, "l2"), Shape4{2, 3, 40, 56}, 1e-5},
      {"jpeg 4:4:4 1x1, interval", jpeg_opts("444", 1, 1, 1, 20, "interval"), Shape4{1, 3, 1, 1}, 1e-5},
      {"jpeg grey on 3 channels 33x17, interval", jpeg_opts("grey", 1, 17, 33, 30, "interval"), Shape4{1, 3, 17, 33},
       1e-5},
      {"jpeg grey on 1 channel 33x17, l2", jpeg_opts("grey", 1, 17, 33, 30, "l2"), Shape4{1, 1, 17, 33}, 1e-5},
      {"jpeg 4:2:0 256x256, interval", jpeg_opts("420", 1, 256, 256, 10, "interval"), Shape4{1, 3, 256, 256}, 1e-5},
      {"quant 4 bits, interval", quant_opts(4, s, "interval"), s, 1e-6},
      {"quant 3 bits, l2", quant_opts(3, s, "l2"), s, 1e-6},
  };
}

}  // namespace

TEST_CASE("operators: CUDA matches CPU for apply, vjp, pinv and residual_vjp", "[gpu][operators]") {
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreate(&stream) == cudaSuccess);
  for (const auto& c : cases()) {
    SECTION(c.name) {
      auto cpu = make_operator(c.o, c.shape, {}, reddiff_test::cpu_backend());
      auto gpu = make_operator(c.o, c.shape, {}, reddiff_gpu_test::gpu_backend());
      REQUIRE(gpu->device() == Device::CUDA);
      REQUIRE(gpu->measurement_shape() == cpu->measurement_shape());
      const size_t nx = size_t(c.shape.numel()), ny = size_t(cpu->measurement_shape().numel());
      const auto x = reddiff_gpu_test::uniform(nx, 1), r = reddiff_gpu_test::uniform(ny, 2);
      Dev dx(x), dr(r), dy(ny), dg(nx), dp(nx), dres(nx);
      void* s = c.name.find("bicubic") != std::string::npos ? static_cast<void*>(stream) : nullptr;

      std::vector<float> y(ny), g(nx), p(nx), res(nx);
      cpu->apply(x.data(), y.data());
      cpu->vjp(x.data(), r.data(), g.data());
      cpu->pinv(r.data(), p.data());
      cpu->residual_vjp(x.data(), r.data(), res.data());
      gpu->apply(dx.p, dy.p, s);
      gpu->vjp(dx.p, dr.p, dg.p, s);
      gpu->pinv(dr.p, dp.p, s);
      gpu->residual_vjp(dx.p, dr.p, dres.p, s);
      REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
      const auto hy = dy.host(), hg = dg.host(), hp = dp.host(), hres = dres.host();
      INFO(cpu->describe());
      CHECK(max_diff(hy, y) <= c.tol * std::max(1.0, max_abs(y)));
      CHECK(max_diff(hg, g) <= c.tol * std::max(1.0, max_abs(g)));
      CHECK(max_diff(hp, p) <= c.tol * std::max(1.0, max_abs(p)));
      CHECK(max_diff(hres, res) <= c.tol * std::max(1.0, max_abs(res)));
      if (c.o.task == "inpaint") {
        REQUIRE(gpu->mask() != nullptr);
        std::vector<float> m(size_t(c.shape.n) * c.shape.h * c.shape.w);
        REQUIRE(cudaMemcpy(m.data(), gpu->mask(), m.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
        CHECK(m == std::vector<float>(cpu->mask(), cpu->mask() + m.size()));
      }
      // the host helper gives the same as the CPU operator
      std::vector<float> y2(ny);
      apply_on_host(*gpu, x.data(), y2.data());
      CHECK(max_diff(y2, y) <= c.tol * std::max(1.0, max_abs(y)));
    }
  }
  cudaStreamDestroy(stream);
}

TEST_CASE("operators: CUDA residual_vjp repeated calls reuse scratch consistently", "[gpu][operators]") {
  auto gpu = make_operator(opts("sr", [](OperatorOptions& o) { o.sr_kernel = "bicubic"; }), Shape4{3, 3, 64, 64}, {},
                           reddiff_gpu_test::gpu_backend());
  const auto x = reddiff_gpu_test::uniform(size_t(3 * 3 * 64 * 64), 9),
             y = reddiff_gpu_test::uniform(size_t(3 * 3 * 16 * 16), 10);
  Dev dx(x), dy(y), g1(x.size()), g2(x.size());
  gpu->residual_vjp(dx.p, dy.p, g1.p);
  gpu->residual_vjp(dx.p, dy.p, g2.p);
  CHECK(g1.host() == g2.host());
}

#else
TEST_CASE("operators: CUDA build disabled", "[gpu][operators]") { SUCCEED("no CUDA"); }
#endif
