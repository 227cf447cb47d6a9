// Each backward op of the VJP on the CPU backend: convolution backward-data, GroupNorm (every
// modulation, with and without SiLU) and attention (both head orders) against PyTorch autograd
// (tests/python/gen_op_cases.py, "*_vjp" cases); the layout ops against the adjoint identity
// <A u, v> = <u, A^T v> with the forward op as A; accumulation into an existing gradient.
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/npy.h"
#include "test_util.h"

using namespace reddiff;
using reddiff_test::testdata;

namespace {

using Shape = std::vector<int64_t>;

struct OpCase {
  std::string dir;
  nlohmann::json meta;
  NpyArray get(const std::string& name) const { return read_npy(dir + name + ".npy"); }
};

OpCase load_case(const std::string& name) {
  OpCase c;
  c.dir = testdata("op_cases/" + name + "/");
  std::ifstream f(c.dir + "meta.json");
  REQUIRE(f.good());
  c.meta = nlohmann::json::parse(f);
  return c;
}

// NCHW -> NHWC, and a 3-D [N, C, T] array as NCHW with H = T, W = 1.
std::vector<float> to_nhwc(const NpyArray& a) {
  int64_t n = a.shape[0], c = a.shape[1], hw = a.numel() / (n * c);
  std::vector<float> r(a.data.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p) r[size_t((i * hw + p) * c + ch)] = a.data[size_t((i * c + ch) * hw + p)];
  return r;
}
Shape nhwc_shape(const NpyArray& a) {
  const auto& s = a.shape;
  return s.size() == 4 ? Shape{s[0], s[2], s[3], s[1]} : Shape{s[0], s[2], 1, s[1]};
}

Param param(const NpyArray& a, const std::string& name) {
  Param p;
  p.name = name;
  p.shape = a.shape;
  p.data = a.data;
  return p;
}

Tensor tensor(std::vector<float>& v, Shape shape) {
  Tensor t;
  t.data = v.data();
  t.shape = std::move(shape);
  return t;
}

// Runs one op on the CPU backend in a graph of its own (g_setup fills the graph's image sizes).
void run_op(Backend& b, Op op, std::vector<std::pair<std::vector<float>*, Shape>> ins, std::vector<float>& out,
            Shape out_shape, std::function<void(Graph&)> g_setup = nullptr) {
  Graph g;
  if (g_setup) g_setup(g);
  ModelWeights w;
  OpTensors t;
  op.inputs.clear();
  for (auto& in : ins) {
    op.inputs.push_back(g.add_value(in.second, DType::F32, "in"));
    t.in[t.n_in++] = tensor(*in.first, in.second);
  }
  op.output = g.add_value(out_shape, DType::F32, "out");
  g.ops.push_back(op);
  b.prepare(g, w);
  t.out = tensor(out, out_shape);
  b.run(g, op, t);
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// Runs op with accumulate off on a NaN-filled output (it must overwrite), then with accumulate on over
// a known buffer (it must add): returns the overwrite result.
std::vector<float> run_both(Backend& b, Op op, std::vector<std::pair<std::vector<float>*, Shape>> ins, Shape out_shape,
                            std::function<void(Graph&)> g_setup = nullptr) {
  size_t n = 1;
  for (auto d : out_shape) n *= size_t(d);
  std::vector<float> out(n, std::nanf(""));
  op.accumulate = false;
  run_op(b, op, ins, out, out_shape, g_setup);
  auto base = reddiff_test::random_normal(n, 99);
  std::vector<float> acc(base);
  op.accumulate = true;
  run_op(b, op, ins, acc, out_shape, g_setup);
  for (size_t i = 0; i < n; ++i) base[i] += out[i];
  CHECK(reddiff_test::rel_l2(acc.data(), base.data(), n) < 1e-6);
  return out;
}

}  // namespace

TEST_CASE("conv2d backward-data matches torch autograd (3x3 pad 1, stride 2 even/odd, 1x1)", "[engine][vjp][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"conv3x3_pad1_vjp", "conv3x3_stride2_vjp", "conv3x3_stride2_odd_vjp", "conv1x1_vjp",
                           "conv3x3_wide_few_pixels_vjp", "conv3x3_stride2_wide_few_pixels_vjp"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto x = c.get("x"), gy = c.get("gy"), ref = c.get("gx");
      Param w = param(c.get("weight"), "w");
      Op op;
      op.kind = OpKind::Conv2dBackwardData;
      op.weight = &w;
      op.kernel = c.meta["k"], op.stride = c.meta["stride"], op.pad = c.meta["pad"];
      auto gyv = to_nhwc(gy);
      auto got = run_both(*b, op, {{&gyv, nhwc_shape(gy)}}, nhwc_shape(x));
      auto want = to_nhwc(ref);
      double err = reddiff_test::rel_l2(got.data(), want.data(), got.size());
      INFO("relative L2 error " << err);
      CHECK(err < 1e-5);
    }
  }
}

TEST_CASE("GroupNorm backward matches torch autograd for every modulation", "[engine][vjp][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"gn_silu_vjp", "gn_only_vjp", "gn_scale_shift_silu_vjp", "gn_add_bias_silu_vjp"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto x = c.get("x"), gy = c.get("gy"), ref = c.get("gx"), mod = c.get("mod");
      Param gamma = param(c.get("gamma"), "g"), beta = param(c.get("beta"), "b");
      Op op;
      op.kind = OpKind::GroupNormBackward;
      op.weight = &gamma, op.bias = &beta;
      op.groups = c.meta["groups"], op.eps = c.meta["eps"], op.silu = c.meta["silu"];
      std::string mode = c.meta["mode"];
      op.mod = mode == "scale_shift" ? NormMod::ScaleShift : mode == "add_bias" ? NormMod::AddBias : NormMod::None;
      auto xv = to_nhwc(x), gyv = to_nhwc(gy);
      std::vector<std::pair<std::vector<float>*, Shape>> ins{{&xv, nhwc_shape(x)}};
      if (op.mod != NormMod::None) ins.push_back({&mod.data, mod.shape});
      ins.push_back({&gyv, nhwc_shape(gy)});
      auto got = run_both(*b, op, ins, nhwc_shape(x));
      auto want = to_nhwc(ref);
      double err = reddiff_test::rel_l2(got.data(), want.data(), got.size());
      INFO("relative L2 error " << err);
      CHECK(err < 1e-5);
      if (op.mod != NormMod::None) {
        // The same modulation read from columns [7, 7 + width) of wider rows (the stacked time-embedding
        // output, Op::mod_offset): the same gradient, bit for bit.
        const int64_t rows = mod.shape[0], width = mod.shape[1], wide = width + 12;
        auto stacked = reddiff_test::random_normal(size_t(rows * wide), 5);
        for (int64_t i = 0; i < rows; ++i)
          std::copy(mod.data.begin() + i * width, mod.data.begin() + (i + 1) * width, stacked.begin() + i * wide + 7);
        ins[1] = {&stacked, {rows, wide}};
        op.mod_offset = 7;
        CHECK(run_both(*b, op, ins, nhwc_shape(x)) == got);
      }
    }
  }
}

TEST_CASE("attention backward matches torch autograd in both head orders", "[engine][vjp][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"attention_legacy_vjp", "attention_new_vjp", "attention_1head_vjp"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto qkv = c.get("qkv"), gy = c.get("gy"), ref = c.get("gx");
      Op op;
      op.kind = OpKind::AttentionBackward;
      op.heads = c.meta["heads"], op.legacy_order = c.meta["legacy"];
      auto qv = to_nhwc(qkv), gyv = to_nhwc(gy);
      std::vector<float> got(qv.size(), std::nanf(""));
      run_op(*b, op, {{&qv, nhwc_shape(qkv)}, {&gyv, nhwc_shape(gy)}}, got, nhwc_shape(qkv));
      auto want = to_nhwc(ref);
      double err = reddiff_test::rel_l2(got.data(), want.data(), got.size());
      INFO("relative L2 error " << err);
      CHECK(err < 1e-5);
    }
  }
}

TEST_CASE("layout backward ops are the adjoints of their forward ops", "[engine][vjp][ops]") {
  auto b = make_cpu_backend(0);
  // <A u, v> = <u, A^T v> holds exactly in real arithmetic; in f32 to rounding.
  auto adjoint = [&](Op fwd, Op bwd, Shape in_shape, Shape out_shape, std::function<void(Graph&)> gs = nullptr) {
    size_t ni = 1, no = 1;
    for (auto d : in_shape) ni *= size_t(d);
    for (auto d : out_shape) no *= size_t(d);
    auto u = reddiff_test::random_normal(ni, 5), v = reddiff_test::random_normal(no, 6);
    std::vector<float> au(no, std::nanf(""));
    run_op(*b, fwd, {{&u, in_shape}}, au, out_shape, gs);
    auto atv = run_both(*b, bwd, {{&v, out_shape}}, in_shape, gs);
    double l = dot(au, v), r = dot(u, atv);
    INFO("<Au, v> = " << l << ", <u, A^T v> = " << r);
    CHECK(std::abs(l - r) < 1e-5 * (std::abs(l) + 1.0) * std::sqrt(double(no)));
    CHECK(std::abs(l) > 1.0);
  };
  Op f, bw;
  SECTION("average pooling") {
    f.kind = OpKind::AvgPool2, bw.kind = OpKind::AvgPool2Backward;
    adjoint(f, bw, {2, 6, 10, 5}, {2, 3, 5, 5});
  }
  SECTION("nearest upsampling") {
    f.kind = OpKind::Upsample2, bw.kind = OpKind::Upsample2Backward;
    adjoint(f, bw, {2, 3, 5, 7}, {2, 6, 10, 7});
  }
  auto sizes = [](int n, int h, int w, int hp, int wp) {
    return [=](Graph& g) { g.n = n, g.h = h, g.w = w, g.hp = hp, g.wp = wp; };
  };
  SECTION("reflect padding (odd sizes, both sides padded)") {
    f.kind = OpKind::InputPad, bw.kind = OpKind::InputPadBackward;
    adjoint(f, bw, {2, 3, 7, 5}, {2, 12, 8, 3}, sizes(2, 7, 5, 12, 8));
  }
  SECTION("reflect padding by one row, none in width") {
    f.kind = OpKind::InputPad, bw.kind = OpKind::InputPadBackward;
    adjoint(f, bw, {1, 4, 15, 8}, {1, 16, 8, 4}, sizes(1, 15, 8, 16, 8));
  }
  SECTION("output crop") {
    f.kind = OpKind::OutputCrop, bw.kind = OpKind::OutputCropBackward;
    adjoint(f, bw, {2, 12, 8, 3}, {2, 3, 7, 5}, sizes(2, 7, 5, 12, 8));
  }
}

TEST_CASE("channel slices are the adjoint of concat; grad_add adds", "[engine][vjp][ops]") {
  auto b = make_cpu_backend(0);
  Shape sa{2, 3, 4, 5}, sb{2, 3, 4, 7}, sy{2, 3, 4, 12};
  auto a = reddiff_test::random_normal(120, 1), bb = reddiff_test::random_normal(168, 2),
       v = reddiff_test::random_normal(288, 3);
  Op cat;
  cat.kind = OpKind::Concat;
  std::vector<float> y(288);
  run_op(*b, cat, {{&a, sa}, {&bb, sb}}, y, sy);
  Op sl;
  sl.kind = OpKind::ChannelSlice;
  auto ga = run_both(*b, sl, {{&v, sy}}, sa);
  sl.channel_offset = 5;
  auto gb = run_both(*b, sl, {{&v, sy}}, sb);
  double l = dot(y, v), r = dot(a, ga) + dot(bb, gb);
  CHECK(std::abs(l - r) < 1e-4);
  CHECK(ga[0] == v[0]);
  CHECK(gb[0] == v[5]);

  Op add;
  add.kind = OpKind::GradAdd;
  std::vector<float> acc(a);
  run_op(*b, add, {{&ga, sa}}, acc, sa);
  for (size_t i = 0; i < a.size(); ++i) REQUIRE(acc[i] == a[i] + ga[i]);
}
