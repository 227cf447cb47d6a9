// The network's vector-Jacobian product (Network::forward_for_vjp + vjp, engine/vjp_graph.h) on the CPU
// backend: against float64 PyTorch autograd of tests/python/adm_ref.py on every reference configuration
// (gen_unet_cases.py writes a cotangent and J^T v per case), and against central finite differences of the
// engine's own forward pass along a random direction.
#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "engine/npy.h"
#include "engine/vjp_graph.h"
#include "test_util.h"

using namespace reddiff;
using reddiff_test::testdata;

namespace {

struct UnetCase {
  std::unique_ptr<Model> model;
  NpyArray x, out, cot, grad;
  std::vector<float> t;
  std::vector<int32_t> labels;
  int n = 0, h = 0, w = 0;
  const int32_t* lab() const { return labels.empty() ? nullptr : labels.data(); }
};

UnetCase load_unet_case(const std::string& name) {
  UnetCase c;
  std::string dir = testdata("unet_cases/" + name + "/");
  c.model = Model::load(dir + "model.safetensors");
  c.x = read_npy(dir + "x.npy"), c.out = read_npy(dir + "out.npy");
  c.cot = read_npy(dir + "cot.npy"), c.grad = read_npy(dir + "grad.npy");
  NpyArray t = read_npy(dir + "t.npy");
  c.t.assign(t.idata.begin(), t.idata.end());
  if (c.model->config.adm.num_classes > 0) {
    NpyArray y = read_npy(dir + "y.npy");
    c.labels.assign(y.idata.begin(), y.idata.end());
  }
  c.n = int(c.x.shape[0]), c.h = int(c.x.shape[2]), c.w = int(c.x.shape[3]);
  return c;
}

std::vector<std::string> unet_case_names() {
  std::ifstream idx(testdata("unet_cases/index.json"));
  REQUIRE(idx.good());
  return nlohmann::json::parse(idx)["cases"].get<std::vector<std::string>>();
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

}  // namespace

TEST_CASE("UNet VJP matches PyTorch autograd on every reference configuration", "[engine][vjp]") {
  auto cases = unet_case_names();
  REQUIRE(cases.size() >= 9);
  auto backend = make_cpu_backend(0);
  for (const auto& name : cases) {
    DYNAMIC_SECTION(name) {
      UnetCase c = load_unet_case(name);
      Network net(*c.model, *backend, DType::F32);
      std::vector<float> out(c.out.data.size(), std::nanf("")), grad(c.grad.data.size(), std::nanf(""));
      REQUIRE(c.grad.shape == c.x.shape);
      net.forward_for_vjp(c.x.data.data(), c.t.data(), c.lab(), out.data(), c.n, c.h, c.w);
      double ferr = reddiff_test::rel_l2(out.data(), c.out.data.data(), out.size());
      INFO(name << ": forward relative L2 error " << ferr);
      CHECK(ferr < 1e-5);
      net.vjp(c.cot.data.data(), grad.data());
      double err = reddiff_test::rel_l2(grad.data(), c.grad.data.data(), grad.size());
      INFO(name << ": VJP relative L2 error " << err);
      CHECK(err < 1e-5);
      // The backward ops consume the kept activations: one VJP per forward_for_vjp. Run again with
      // another cotangent: linear in the cotangent.
      std::vector<float> cot2(c.cot.data), grad2(grad.size());
      for (auto& v : cot2) v *= -2.0f;
      CHECK_THROWS_AS(net.vjp(cot2.data(), grad2.data()), Error);
      net.forward_for_vjp(c.x.data.data(), c.t.data(), c.lab(), out.data(), c.n, c.h, c.w);
      net.vjp(cot2.data(), grad2.data());
      for (auto& v : grad2) v *= -0.5f;
      CHECK(reddiff_test::rel_l2(grad2.data(), c.grad.data.data(), grad2.size()) < 1e-5);
      // The VJP plan shares its arena and is only paid for by callers of the VJP.
      const auto& vp = net.compile_vjp(c.n, c.h, c.w).plan;
      CHECK(vp.arena_bytes < vp.unshared_bytes);
      CHECK(vp.arena_bytes >= vp.peak_live_bytes);
      CHECK(net.vjp_device_bytes(c.n, c.h, c.w) >= vp.arena_bytes);
      CHECK(vp.arena_bytes > net.compile(c.n, c.h, c.w).plan.arena_bytes);
    }
  }
}

TEST_CASE("UNet VJP agrees with central differences of the forward pass", "[engine][vjp]") {
  // <v, J u> from the VJP as <J^T v, u>, against <v, (f(x + s u) - f(x - s u)) / 2s> with f32 forwards:
  // Richardson extrapolation of steps s = 0.02 and 0.01 removes the O(s^2) term, leaving O(s^4) and f32
  // rounding (~1e-6 / s of the output). The difference is measured against ||v|| ||J u|| (for a random v,
  // <v, J u> itself is about 1/sqrt(size) of that, and can be small by cancellation).
  auto backend = make_cpu_backend(0);
  for (std::string name : {"legacy_updown", "no_scale_shift", "odd_30x22_nrb2", "class_cond"}) {
    DYNAMIC_SECTION(name) {
      UnetCase c = load_unet_case(name);
      Network net(*c.model, *backend, DType::F32);
      size_t nx = c.x.data.size(), ny = c.out.data.size();
      std::vector<float> u = reddiff_test::random_normal(nx, 11), v = reddiff_test::random_normal(ny, 12);
      std::vector<float> out(ny), g(nx);
      net.forward_for_vjp(c.x.data.data(), c.t.data(), c.lab(), out.data(), c.n, c.h, c.w);
      net.vjp(v.data(), g.data());
      double jvp = dot(g, u);
      double jun = 0;  // ||(f(x + s u) - f(x - s u)) / 2s|| at the smaller step
      auto diff = [&](float s) {
        std::vector<float> xp(nx), xm(nx), fp(ny), fm(ny);
        for (size_t i = 0; i < nx; ++i) xp[i] = c.x.data[i] + s * u[i], xm[i] = c.x.data[i] - s * u[i];
        net.forward(xp.data(), c.t.data(), c.lab(), fp.data(), c.n, c.h, c.w);
        net.forward(xm.data(), c.t.data(), c.lab(), fm.data(), c.n, c.h, c.w);
        double d = 0;
        jun = 0;
        for (size_t i = 0; i < ny; ++i) {
          double df = (double(fp[i]) - double(fm[i])) / (2.0 * s);
          d += double(v[i]) * df;
          jun += df * df;
        }
        jun = std::sqrt(jun);
        return d;
      };
      double d1 = diff(2e-2f), d2 = diff(1e-2f);
      double fd = (4.0 * d2 - d1) / 3.0;
      double scale = std::sqrt(dot(v, v)) * jun;
      double rel = std::abs(fd - jvp) / scale;
      INFO(name << ": <J^T v, u> = " << jvp << ", finite differences " << fd << " (steps: " << d1 << ", " << d2
                << "), difference " << rel << " of ||v|| ||J u|| = " << scale);
      CHECK(std::abs(jvp) > 1e-4 * scale);  // far above the bound below: a wrong VJP cannot hide in it
      CHECK(rel < 3e-6);
    }
  }
}

TEST_CASE("vjp without forward_for_vjp is an error; the forward plan has no backward ops", "[engine][vjp]") {
  UnetCase c = load_unet_case("legacy_updown");
  auto backend = make_cpu_backend(0);
  Network net(*c.model, *backend, DType::F32);
  std::vector<float> g(c.x.data.size()), out(c.out.data.size());
  CHECK_THROWS_AS(net.vjp(c.cot.data.data(), g.data()), Error);
  net.forward(c.x.data.data(), c.t.data(), nullptr, out.data(), c.n, c.h, c.w);
  CHECK_THROWS_AS(net.vjp(c.cot.data.data(), g.data()), Error);
  const Graph& fg = net.compile(c.n, c.h, c.w).graph;
  CHECK(fg.forward_ops == 0);
  CHECK(fg.cot_in < 0);
  const Graph& vg = net.compile_vjp(c.n, c.h, c.w).graph;
  CHECK(vg.forward_ops == fg.ops.size());
  CHECK(vg.ops.size() > fg.ops.size());
  Graph again = vg;
  CHECK_THROWS_AS(append_vjp(again), Error);
}

TEST_CASE("the VJP plan keeps exactly the forward activations the backward ops read", "[engine][vjp]") {
  // Alive across the forward/backward boundary: GroupNorm inputs and modulations, attention qkv.
  UnetCase c = load_unet_case("odd_30x22_nrb2");
  auto backend = make_cpu_backend(0);
  Network net(*c.model, *backend, DType::F32);
  const auto& comp = net.compile_vjp(c.n, c.h, c.w);
  const Graph& g = comp.graph;
  std::set<int> expect, kept;
  for (size_t i = 0; i < g.forward_ops; ++i) {
    const Op& op = g.ops[i];
    if (op.kind == OpKind::GroupNorm || op.kind == OpKind::Attention)
      for (int v : op.inputs) expect.insert(v);
  }
  for (size_t i = 0; i < g.forward_ops; ++i) {
    int v = g.ops[i].output;
    if (g.value(v).kind == ValueKind::Arena && comp.plan.last_use[size_t(v)] >= int(g.forward_ops)) kept.insert(v);
  }
  CHECK(kept == expect);
  CHECK(expect.size() > 10);
  // Backward values are never read before they are written.
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].kind == ValueKind::Arena && comp.plan.first_use[v] >= int(g.forward_ops)) {
      const Op& first = g.ops[size_t(comp.plan.first_use[v])];
      INFO(g.value(int(v)).name << " first used by " << first.name);
      CHECK(first.output == int(v));
      CHECK_FALSE(first.accumulate);
    }
}
