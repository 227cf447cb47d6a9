// The whole ADM UNet against the PyTorch reference (tests/python/adm_ref.py): every configuration
// written by gen_unet_cases.py, converted with reddiff-convert, run on the CPU backend.
// Reference outputs are float64 computations; the bound is a relative L2 error < 1e-5.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "engine/npy.h"
#include "test_util.h"

using namespace reddiff;
using reddiff_test::testdata;

TEST_CASE("UNet forward matches PyTorch on every reference configuration", "[engine][unet]") {
  std::ifstream idx(testdata("unet_cases/index.json"));
  REQUIRE(idx.good());
  auto index = nlohmann::json::parse(idx);
  auto cases = index["cases"].get<std::vector<std::string>>();
  REQUIRE(cases.size() >= 8);
  auto backend = make_cpu_backend(0);
  for (const auto& name : cases) {
    DYNAMIC_SECTION(name) {
      std::string dir = testdata("unet_cases/" + name + "/");
      auto model = Model::load(dir + "model.safetensors");
      NpyArray x = read_npy(dir + "x.npy"), t = read_npy(dir + "t.npy"), ref = read_npy(dir + "out.npy");
      int n = int(x.shape[0]), h = int(x.shape[2]), w = int(x.shape[3]);
      std::vector<float> tv(t.idata.begin(), t.idata.end());
      std::vector<int32_t> labels;
      if (model->config.adm.num_classes > 0) {
        NpyArray y = read_npy(dir + "y.npy");
        labels.assign(y.idata.begin(), y.idata.end());
      }
      Network net(*model, *backend, DType::F32);
      std::vector<float> out(ref.data.size(), std::nanf(""));
      net.forward(x.data.data(), tv.data(), labels.empty() ? nullptr : labels.data(), out.data(), n, h, w);
      REQUIRE(ref.shape == std::vector<int64_t>{n, model->config.adm.out_channels, h, w});
      double err = reddiff_test::rel_l2(out.data(), ref.data.data(), out.size());
      INFO(name << ": relative L2 error " << err);
      CHECK(err < 1e-5);
      // The arena is shared: it must be smaller than one buffer per activation.
      const auto& plan = net.compile(n, h, w).plan;
      CHECK(plan.arena_bytes < plan.unshared_bytes);
      CHECK(plan.arena_bytes >= plan.peak_live_bytes);
    }
  }
}
