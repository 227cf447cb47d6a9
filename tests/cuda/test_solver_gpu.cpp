// The solvers on CUDA: every kernel of a RED-diff step and the DDIM step against its CPU twin on random
// inputs, and whole RED-diff runs on a small random model -- the CUDA graph replay against launch-by-launch
// execution (identical) and both against the CPU backend.
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
#include "kernels/solver/reddiff_step.h"
#include "kernels/solver/sampler_step.h"
#include "operators/operator.h"
#include "solvers/reddiff_solver.h"
#include "test_util.h"

using namespace reddiff;

namespace {

// A device copy of a host vector, freed on scope exit.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    REQUIRE(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T)) == cudaSuccess);
    REQUIRE(cudaMemset(p, 0xFF, std::max<size_t>(1, n) * sizeof(T)) == cudaSuccess);  // poisoned: NaN floats
  }
  explicit Dev(const std::vector<T>& v) : Dev(v.size()) {
    REQUIRE(cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  std::vector<T> host() const {
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    std::vector<T> v(n);
    REQUIRE(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return v;
  }
};

double rel(const std::vector<float>& a, const std::vector<float>& ref) { return reddiff_test::rel_l2(a.data(), ref.data(), a.size()); }

RedDiffStepScalars some_scalars(uint32_t step) {
  RedDiffStepScalars s;
  s.t = 613, s.sqrt_abar = 0.37f, s.sqrt_1m_abar = 0.93f, s.prior_weight = 3.1e-4f, s.step = step;
  AdamState adam;
  adam_bias_corrections(adam, int(step) + 1, s);
  return s;
}

}  // namespace

TEST_CASE("reddiff_step_begin_cuda matches its CPU twin", "[gpu][solver]") {
  std::vector<RedDiffStepScalars> table = {some_scalars(0), some_scalars(1), some_scalars(2)};
  table[1].t = 500, table[2].t = 7;
  const int n = 300;  // more images than threads in a block
  int32_t counter = 1;
  RedDiffStepScalars cur;
  std::vector<float> t_in(n, -1.0f);
  RedDiffStepBeginArgs a{table.data(), &counter, &cur, t_in.data(), n};
  reddiff_step_begin_cpu(a, nullptr);
  Dev<RedDiffStepScalars> dtable(table), dcur(1);
  Dev<int32_t> dcounter(std::vector<int32_t>{1});
  Dev<float> dt{size_t(n)};
  RedDiffStepBeginArgs d{dtable.p, dcounter.p, dcur.p, dt.p, n};
  reddiff_step_begin_cuda(d, nullptr);
  CHECK(counter == 2);
  CHECK(dcounter.host()[0] == 2);
  CHECK(std::memcmp(&dcur.host()[0], &cur, sizeof cur) == 0);
  CHECK(dt.host() == t_in);
  CHECK(t_in[0] == 500.0f);
}

TEST_CASE("reddiff_noise_cuda, reddiff_update_cuda and noise_fill_cuda match their CPU twins", "[gpu][solver]") {
  const int n = 2, c = 3, h = 17, w = 13, out_c = 6;
  const int64_t numel = int64_t(c) * h * w;
  std::vector<uint64_t> ids = {5, 12345678901ull};
  Dev<uint64_t> dids(ids);
  RedDiffStepScalars sc = some_scalars(41);
  Dev<RedDiffStepScalars> dsc(std::vector<RedDiffStepScalars>{sc});
  auto mu = reddiff_test::random_normal(size_t(n * numel), 1);

  for (float sigma_x0 : {0.0f, 0.05f}) {
    std::vector<float> eps(mu.size()), x0(mu.size()), xt(mu.size());
    RedDiffNoiseArgs a;
    a.mu = mu.data(), a.eps = eps.data(), a.x0 = x0.data(), a.xt = xt.data(), a.image_ids = ids.data();
    a.scalars = &sc, a.seed = 99, a.n = n, a.image_numel = numel, a.sigma_x0 = sigma_x0;
    reddiff_noise_cpu(a, nullptr);
    Dev<float> dmu(mu), deps(mu.size()), dx0(mu.size()), dxt(mu.size());
    RedDiffNoiseArgs d = a;
    d.mu = dmu.p, d.eps = deps.p, d.x0 = dx0.p, d.xt = dxt.p, d.image_ids = dids.p, d.scalars = dsc.p;
    reddiff_noise_cuda(d, nullptr);
    INFO("sigma_x0 " << sigma_x0);
    CHECK(rel(deps.host(), eps) < 1e-6);
    CHECK(rel(dx0.host(), x0) < 1e-6);
    CHECK(rel(dxt.host(), xt) < 1e-6);
  }

  auto eps_hat = reddiff_test::random_normal(size_t(n) * out_c * h * w, 2);
  auto eps = reddiff_test::random_normal(mu.size(), 3), g = reddiff_test::random_normal(mu.size(), 4);
  auto m = reddiff_test::random_normal(mu.size(), 5, 0.1f), v = reddiff_test::random_normal(mu.size(), 6, 0.1f);
  for (auto& x : v) x = x * x;
  std::vector<float> mu_c = mu, m_c = m, v_c = v;
  RedDiffUpdateArgs u;
  u.mu = mu_c.data(), u.m = m_c.data(), u.v = v_c.data(), u.eps_hat = eps_hat.data(), u.eps_hat_channels = out_c;
  u.eps = eps.data(), u.g_data = g.data(), u.scalars = &sc, u.n = n, u.c = c, u.hw = h * w, u.data_weight = 0.7f;
  u.adam.lr = 0.3f;
  reddiff_update_cpu(u, nullptr);
  Dev<float> dmu(mu), dm(m), dv(v), deh(eps_hat), deps(eps), dg(g);
  RedDiffUpdateArgs du = u;
  du.mu = dmu.p, du.m = dm.p, du.v = dv.p, du.eps_hat = deh.p, du.eps = deps.p, du.g_data = dg.p, du.scalars = dsc.p;
  reddiff_update_cuda(du, nullptr);
  CHECK(rel(dmu.host(), mu_c) < 1e-6);
  CHECK(rel(dm.host(), m_c) < 1e-6);
  CHECK(rel(dv.host(), v_c) < 1e-6);
  CHECK(rel(mu_c, mu) > 1e-3);  // the update moved mu

  std::vector<float> fill(mu.size());
  NoiseFillArgs f;
  f.x = fill.data(), f.image_ids = ids.data(), f.seed = 3, f.step = 0, f.stream = 7, f.n = n, f.image_numel = numel, f.scale = 0.5f;
  noise_fill_cpu(f, nullptr);
  Dev<float> dfill(mu.size());
  NoiseFillArgs df = f;
  df.x = dfill.p, df.image_ids = dids.p;
  noise_fill_cuda(df, nullptr);
  CHECK(rel(dfill.host(), fill) < 1e-6);
}

TEST_CASE("ddim_step_cuda matches its CPU twin", "[gpu][solver]") {
  const int n = 2, c = 3, h = 9, w = 11;
  std::vector<uint64_t> ids = {1, 2};
  Dev<uint64_t> dids(ids);
  auto x = reddiff_test::random_normal(size_t(n) * c * h * w, 8);
  auto eps_hat = reddiff_test::random_normal(size_t(n) * 6 * h * w, 9);
  for (float sigma : {0.0f, 0.2f}) {
    std::vector<float> xc = x;
    DdimStepArgs a;
    a.x = xc.data(), a.eps_hat = eps_hat.data(), a.eps_hat_channels = 6, a.image_ids = ids.data(), a.seed = 4, a.step = 3;
    a.n = n, a.c = c, a.hw = h * w, a.abar_t = 0.3f, a.abar_s = 0.5f, a.sigma = sigma;
    ddim_step_cpu(a, nullptr);
    Dev<float> dx(x), de(eps_hat);
    DdimStepArgs d = a;
    d.x = dx.p, d.eps_hat = de.p, d.image_ids = dids.p;
    ddim_step_cuda(d, nullptr);
    INFO("sigma " << sigma);
    CHECK(rel(dx.host(), xc) < 1e-5);
    CHECK(rel(xc, x) > 1e-3);
  }
}

namespace {

ModelConfig small_model_config() {
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
  return c;
}

// One RED-diff run: the restored images, downloaded.
std::vector<float> solve(Backend& be, const Model& model, const OperatorOptions& oo, const std::vector<float>& truth, Shape4 xs,
                         bool graph, bool* used_graph = nullptr) {
  std::vector<uint64_t> ids = {11, 22};
  auto op = make_operator(oo, xs, ids, be.device());
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
  std::printf("  %-8s %-5s graph: %s\n", oo.task.c_str(), be.device() == Device::CUDA ? "cuda" : "cpu", solver.graph_note().c_str());
  return mu;
}

}  // namespace

TEST_CASE("RED-diff on CUDA: the replayed CUDA graph equals launch-by-launch steps, and both match the CPU", "[gpu][solver]") {
  auto model = Model::random(small_model_config(), 2024);
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
