// RED-diff on CUDA: whole runs on a small random model -- the CUDA graph replay against launch-by-launch
// execution (identical) and both against the CPU backend; and how far a result moves with the batch size
// on CUDA (issue 17: the CPU is bit-identical across batch sizes, CUDA's bound is measured here). (The step kernels'
// twins, kernels/solver/ reddiff_step.h and sampler_step.h, are compared in the kernel table, backend_ops.cpp.)
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "operators/operator.h"
#include "tests/cuda/gpu_test_util.h"
#include "solvers/reddiff_solver.h"
#include "test_util.h"

using namespace reddiff;

namespace {

double rel(const std::vector<float>& a, const std::vector<float>& ref) {
  return reddiff_test::rel_l2(a.data(), ref.data(), a.size());
}

// One RED-diff run: the restored images, downloaded.
std::vector<float> solve(Backend& be, const Model& model, const OperatorOptions& oo, const std::vector<float>& truth,
                         Shape4 xs, bool graph, bool* used_graph = nullptr) {
  std::vector<uint64_t> ids = {11, 22};
  auto op = make_operator(oo, xs, ids, be);
  std::vector<float> y(size_t(op->measurement_shape().numel()));
  apply_on_host(*op, truth.data(), y.data());
  Network net(model, be, DType::F32);
  RedDiffOptions o;
  o.steps = 8, o.lr = 0.3, o.lambda = 0.25, o.seed = 5, o.graph = graph;
  RedDiffSolver solver(net, o);
  void* dy = be.alloc(y.size() * 4);
  void* dmu = be.alloc(truth.size() * 4);
  be.upload(dy, y.data(), y.size() * 4);
  solver.solve(*op, static_cast<float*>(dy), static_cast<float*>(dmu), ids);
  std::vector<float> mu(truth.size());
  be.download(mu.data(), dmu, mu.size() * 4);
  be.free(dy);
  be.free(dmu);
  if (used_graph) *used_graph = solver.used_graph();
  std::printf("  %-8s %-5s graph: %s\n", oo.task.c_str(), be.device() == Device::CUDA ? "cuda" : "cpu",
              solver.graph_note().c_str());
  return mu;
}

}  // namespace

TEST_CASE("RED-diff on CUDA: the replayed CUDA graph equals launch-by-launch steps, and both match the CPU",
          "[gpu][solver]") {
  auto model = Model::random(reddiff_gpu_test::small_adm_config(0), 2024);
  auto cpu = make_cpu_backend(2);
  auto gpu = make_cuda_backend(0);
  Shape4 xs{2, 3, 30, 22};  // padded inside the network
  auto truth = reddiff_test::random_normal(size_t(xs.numel()), 17, 0.5f);
  for (const char* task : {"inpaint", "deblur", "sr"}) {
    OperatorOptions oo;
    oo.task = task;
    oo.scale = 2;
    oo.box_size = 10;
    oo.blur_sigma = 1.5;
    validate_operator_options(oo);
    INFO(task);
    auto ref = solve(*cpu, *model, oo, truth, xs, false);
    bool used = false;
    auto eager = solve(*gpu, *model, oo, truth, xs, false);
    auto replay = solve(*gpu, *model, oo, truth, xs, true, &used);
    CHECK(used);
    double e_graph = rel(replay, eager), e_cpu = rel(eager, ref);
    std::printf("  %-8s graph vs eager rel L2 %.3g, cuda vs cpu %.3g\n", task, e_graph, e_cpu);
    CHECK(e_graph < 1e-6);
    CHECK(e_cpu < 1e-4);
    CHECK(rel(ref, truth) > 1e-2);  // the run did something measurable
  }
}

// The same three images restored one at a time and as one batch of three: on the CPU the results are bit-
// identical (test `reproducible`); on CUDA the libraries may pick other algorithms (other summation orders)
// for another batch size, so the difference is measured and printed for scripts/gpu-check ("small batch-size
// bound" lines, docs/usage.md), and bounded loosely so that images mixing within a batch would fail.
TEST_CASE("RED-diff on CUDA: how far a result moves between --batch-size 1 and 3", "[gpu][solver]") {
  auto model = Model::random(reddiff_gpu_test::small_adm_config(0), 2025);
  Backend& gpu = reddiff_gpu_test::gpu_backend();
  const Shape4 one{1, 3, 30, 22};
  const size_t per = size_t(one.numel());
  auto truth = reddiff_test::random_normal(3 * per, 19, 0.5f);
  const std::vector<uint64_t> ids = {11, 22, 33};
  for (DType prec : {DType::F32, DType::F16}) {
    if (!gpu.supports(prec)) continue;
    auto run = [&](const float* x, const std::vector<uint64_t>& id) {
      Shape4 xs = one;
      xs.n = int(id.size());
      OperatorOptions oo;
      oo.task = "inpaint", oo.box_size = 10;
      validate_operator_options(oo);
      auto op = make_operator(oo, xs, id, gpu);
      std::vector<float> y(size_t(op->measurement_shape().numel()));
      apply_on_host(*op, x, y.data());
      Network net(*model, gpu, prec);
      RedDiffOptions o;
      o.steps = 20, o.lr = 0.3, o.lambda = 0.25, o.seed = 5;
      RedDiffSolver solver(net, o);
      reddiff_gpu_test::DeviceArray<float> dy(y), dmu(size_t(xs.numel()));
      solver.solve(*op, dy.p, dmu.p, id);
      return dmu.host();
    };
    std::vector<float> single;
    for (int k = 0; k < 3; ++k) {
      auto r = run(truth.data() + size_t(k) * per, {ids[size_t(k)]});
      single.insert(single.end(), r.begin(), r.end());
    }
    const std::vector<float> batch = run(truth.data(), ids);
    REQUIRE(batch.size() == single.size());
    double worst = 0, sum = 0;
    size_t moved = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const double d = std::fabs(double(batch[i]) - double(single[i]));
      worst = std::max(worst, d), sum += d, moved += d > 0;
    }
    // [-1, 1] units; 8-bit levels are 2/255 apart.
    const double levels = worst * 127.5;
    std::printf(
        "small batch-size bound %-4s: 20 RED-diff steps, batch 3 vs 3 x batch 1: max |diff| %.3g (%.3g 8-bit "
        "levels), mean %.3g, %zu of %zu values differ\n",
        dtype_name(prec), worst, levels, sum / double(batch.size()), moved, batch.size());
    INFO(dtype_name(prec) << ": max difference " << levels << " levels");
    CHECK(reddiff_test::rel_l2(single.data(), truth.data(), single.size()) > 1e-2);  // it restored something
    CHECK(levels < (prec == DType::F32 ? 1.0 : 8.0));
  }
}
