// Each engine op on the CPU backend against PyTorch (tests/python/gen_op_cases.py, float64 references):
// convolutions, GroupNorm with SiLU and scale-shift, attention in both head orders, the attention
// block, pooling, upsampling, the timestep embedding, linear layers. Inputs are random and non-zero.
#include <catch2/catch.hpp>
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/npy.h"
#include "kernels/network/group_norm.h"
#include "test_util.h"

using namespace reddiff;
using reddiff_test::testdata;

namespace {

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

// NCHW <-> NHWC for the engine's activation layout.
std::vector<float> to_nhwc(const NpyArray& a) {
  int64_t n = a.shape[0], c = a.shape[1], h = a.shape[2], w = a.shape[3];
  std::vector<float> r(a.data.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p)
        r[size_t((i * h * w + p) * c + ch)] = a.data[size_t((i * c + ch) * h * w + p)];
  return r;
}
std::vector<float> from_nhwc(const std::vector<float>& v, const std::vector<int64_t>& nchw) {
  int64_t n = nchw[0], c = nchw[1], hw = nchw[2] * nchw[3];
  std::vector<float> r(v.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p) r[size_t((i * c + ch) * hw + p)] = v[size_t((i * hw + p) * c + ch)];
  return r;
}
std::vector<int64_t> nhwc_shape(const std::vector<int64_t>& s) { return {s[0], s[2], s[3], s[1]}; }

Param param(const NpyArray& a, const std::string& name) {
  Param p;
  p.name = name;
  p.shape = a.shape;
  p.data = a.data;
  return p;
}

Tensor tensor(std::vector<float>& v, std::vector<int64_t> shape) {
  Tensor t;
  t.data = v.data();
  t.shape = std::move(shape);
  return t;
}

// Runs one op on the CPU backend; prepare() sees a graph holding just this op.
void run_op(Backend& b, Op op, std::vector<std::pair<std::vector<float>*, std::vector<int64_t>>> ins,
            std::vector<float>& out, std::vector<int64_t> out_shape) {
  Graph g;
  ModelWeights w;
  OpTensors t;
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

void check_close(const std::vector<float>& got, const NpyArray& ref, double tol = 1e-5) {
  REQUIRE(got.size() == ref.data.size());
  double err = reddiff_test::rel_l2(got.data(), ref.data.data(), got.size());
  INFO("relative L2 error " << err);
  CHECK(err < tol);
}

}  // namespace

TEST_CASE("conv2d matches torch (3x3 pad 1, stride 2, 1x1, odd sizes)", "[engine][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"conv3x3_pad1", "conv3x3_pad1_odd", "conv3x3_stride2", "conv3x3_stride2_odd", "conv1x1",
                           "conv3x3_wide_few_pixels", "conv1x1_wide_few_pixels"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto x = c.get("x"), ref = c.get("out");
      Param w = param(c.get("weight"), "w"), bias = param(c.get("bias"), "b");
      Op op;
      op.kind = OpKind::Conv2d;
      op.weight = &w, op.bias = &bias;
      op.kernel = c.meta["k"], op.stride = c.meta["stride"], op.pad = c.meta["pad"];
      auto xv = to_nhwc(x);
      std::vector<float> out(ref.data.size(), std::nanf(""));
      run_op(*b, op, {{&xv, nhwc_shape(x.shape)}}, out, nhwc_shape(ref.shape));
      check_close(from_nhwc(out, ref.shape), ref);
    }
  }
}

TEST_CASE("conv2d adds the residual input", "[engine][ops]") {
  auto b = make_cpu_backend(0);
  auto c = load_case("conv3x3_pad1");
  auto x = c.get("x"), ref = c.get("out");
  Param w = param(c.get("weight"), "w"), bias = param(c.get("bias"), "b");
  Op op;
  op.kind = OpKind::Conv2d;
  op.weight = &w, op.bias = &bias;
  auto xv = to_nhwc(x);
  auto res = reddiff_test::random_normal(ref.data.size(), 7);
  std::vector<float> out(ref.data.size());
  run_op(*b, op, {{&xv, nhwc_shape(x.shape)}, {&res, nhwc_shape(ref.shape)}}, out, nhwc_shape(ref.shape));
  auto expect = to_nhwc(ref);
  for (size_t i = 0; i < expect.size(); ++i) expect[i] += res[i];
  CHECK(reddiff_test::rel_l2(out.data(), expect.data(), out.size()) < 1e-5);
}

TEST_CASE("GroupNorm with SiLU and with the ResBlock scale-shift matches torch", "[engine][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"gn_silu", "gn_silu_c96", "gn_only", "gn_scale_shift_silu"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto x = c.get("x"), ref = c.get("out");
      Param gamma = param(c.get("gamma"), "g"), beta = param(c.get("beta"), "b");
      Op op;
      op.kind = OpKind::GroupNorm;
      op.weight = &gamma, op.bias = &beta;
      op.groups = c.meta["groups"];
      op.eps = c.meta["eps"];
      auto xv = to_nhwc(x);
      std::vector<float> out(ref.data.size(), std::nanf(""));
      std::vector<float> mod;
      std::vector<std::pair<std::vector<float>*, std::vector<int64_t>>> ins{{&xv, nhwc_shape(x.shape)}};
      if (c.meta["op"] == "group_norm_scale_shift_silu") {
        auto scale = c.get("scale"), shift = c.get("shift");
        int64_t n = scale.shape[0], ch = scale.shape[1];
        mod.resize(size_t(n * 2 * ch));
        for (int64_t i = 0; i < n; ++i)
          for (int64_t k = 0; k < ch; ++k) {
            mod[size_t(i * 2 * ch + k)] = scale.data[size_t(i * ch + k)];
            mod[size_t(i * 2 * ch + ch + k)] = shift.data[size_t(i * ch + k)];
          }
        op.mod = NormMod::ScaleShift;
        op.silu = true;
        ins.push_back({&mod, {n, 2 * ch}});
      } else {
        op.silu = c.meta.value("silu", true);
      }
      run_op(*b, op, ins, out, nhwc_shape(ref.shape));
      check_close(from_nhwc(out, ref.shape), ref);
      if (op.mod != NormMod::None) {
        // The same modulation read from columns [5, 5 + 2C) of wider rows (the stacked time-embedding
        // output, Op::mod_offset): the same result, bit for bit.
        const int64_t n = ins[1].second[0], width = ins[1].second[1], wide = width + 9;
        auto stacked = reddiff_test::random_normal(size_t(n * wide), 7);
        for (int64_t i = 0; i < n; ++i)
          std::copy(mod.begin() + i * width, mod.begin() + (i + 1) * width, stacked.begin() + i * wide + 5);
        ins[1] = {&stacked, {n, wide}};
        op.mod_offset = 5;
        std::vector<float> strided(out.size(), std::nanf(""));
        run_op(*b, op, ins, strided, nhwc_shape(ref.shape));
        CHECK(strided == out);
      }
    }
  }
}

TEST_CASE("GroupNorm AddBias adds the embedding before normalising", "[engine][ops]") {
  // Closed form: GN(x + e) with per-(n,c) e equals GN applied to the shifted input.
  auto b = make_cpu_backend(0);
  int n = 2, hw = 12, c = 64;
  auto x = reddiff_test::random_normal(size_t(n * hw * c), 1);
  auto e = reddiff_test::random_normal(size_t(n * c), 2);
  std::vector<float> shifted(x);
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < hw; ++p)
      for (int k = 0; k < c; ++k) shifted[size_t((i * hw + p) * c + k)] += e[size_t(i * c + k)];
  Param gamma{"g", {c}, reddiff_test::random_normal(size_t(c), 3)},
      beta{"b", {c}, reddiff_test::random_normal(size_t(c), 4)};
  Op op;
  op.kind = OpKind::GroupNorm;
  op.weight = &gamma, op.bias = &beta, op.silu = true;
  std::vector<float> want(x.size()), got(x.size());
  run_op(*b, op, {{&shifted, {n, 3, 4, c}}}, want, {n, 3, 4, c});
  op.mod = NormMod::AddBias;
  run_op(*b, op, {{&x, {n, 3, 4, c}}, {&e, {n, c}}}, got, {n, 3, 4, c});
  CHECK(reddiff_test::rel_l2(got.data(), want.data(), got.size()) < 1e-6);
  // e read from columns [3, 3 + C) of rows 2C + 5 wide (Op::mod_offset): the same result, bit for bit.
  const int wide = 2 * c + 5;
  auto stacked = reddiff_test::random_normal(size_t(n * wide), 5);
  for (int i = 0; i < n; ++i) std::copy(e.begin() + i * c, e.begin() + (i + 1) * c, stacked.begin() + i * wide + 3);
  op.mod_offset = 3;
  std::vector<float> strided(x.size(), std::nanf(""));
  run_op(*b, op, {{&x, {n, 3, 4, c}}, {&stacked, {n, wide}}}, strided, {n, 3, 4, c});
  CHECK(strided == got);  // rows narrower than the modulation they hold are refused
  GroupNormArgs a;
  a.x = x.data(), a.y = strided.data(), a.n = n, a.hw = hw, a.c = c, a.gamma = gamma.data.data(),
  a.beta = beta.data.data(), a.mod = stacked.data(), a.mod_stride = c - 1, a.mode = NormMod::AddBias;
  CHECK_THROWS_WITH(group_norm(Device::CPU, a, nullptr), Catch::Contains("stride below their width"));
}

TEST_CASE("attention matches torch in both head orders", "[engine][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"attention_legacy", "attention_new", "attention_legacy_1head", "attention_new_t37"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto qkv = c.get("qkv"), ref = c.get("out");
      int64_t n = qkv.shape[0], c3 = qkv.shape[1], t = qkv.shape[2];
      // [N, 3C, T] is NCHW with H = T, W = 1.
      NpyArray q4 = qkv, r4 = ref;
      q4.shape = {n, c3, t, 1};
      r4.shape = {n, c3 / 3, t, 1};
      auto qv = to_nhwc(q4);
      Op op;
      op.kind = OpKind::Attention;
      op.heads = c.meta["heads"];
      op.legacy_order = c.meta["legacy"];
      std::vector<float> out(ref.data.size(), std::nanf(""));
      run_op(*b, op, {{&qv, nhwc_shape(q4.shape)}}, out, nhwc_shape(r4.shape));
      check_close(from_nhwc(out, r4.shape), ref);
    }
  }
}

TEST_CASE("average pooling and nearest upsampling match torch", "[engine][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"avg_pool2x2", "upsample_nearest2x"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto x = c.get("x"), ref = c.get("out");
      Op op;
      op.kind = name == "avg_pool2x2" ? OpKind::AvgPool2 : OpKind::Upsample2;
      auto xv = to_nhwc(x);
      std::vector<float> out(ref.data.size(), std::nanf(""));
      run_op(*b, op, {{&xv, nhwc_shape(x.shape)}}, out, nhwc_shape(ref.shape));
      check_close(from_nhwc(out, ref.shape), ref, 1e-6);
    }
  }
}

TEST_CASE("timestep embedding matches guided-diffusion", "[engine][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"timestep_embedding_even", "timestep_embedding_odd"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto t = c.get("t"), ref = c.get("out");
      std::vector<float> tv(t.idata.begin(), t.idata.end());
      Op op;
      op.kind = OpKind::TimestepEmbed;
      std::vector<float> out(ref.data.size(), std::nanf(""));
      run_op(*b, op, {{&tv, {int64_t(tv.size())}}}, out, ref.shape);
      check_close(out, ref, 1e-5);
    }
  }
}

TEST_CASE("linear layers (with and without SiLU on the input) match torch", "[engine][ops]") {
  auto b = make_cpu_backend(0);
  for (std::string name : {"linear", "silu_linear"}) {
    DYNAMIC_SECTION(name) {
      auto c = load_case(name);
      auto x = c.get("x"), ref = c.get("out");
      Param w = param(c.get("weight"), "w"), bias = param(c.get("bias"), "b");
      Op op;
      op.kind = OpKind::Linear;
      op.weight = &w, op.bias = &bias, op.silu = c.meta["silu_input"];
      std::vector<float> out(ref.data.size(), std::nanf(""));
      run_op(*b, op, {{&x.data, x.shape}}, out, ref.shape);
      check_close(out, ref);
    }
  }
}

// Every op works on each image of a batch alone, so that a result does not depend on --batch-size or on the
// other images of its batch (docs/usage.md): a batch's rows must be what each row alone gives, bit for bit.
// One GEMM over the whole batch broke this (OpenBLAS sums differently for 8 rows than for 1 or 2), and 40
// RED-diff steps grew that into two 8-bit levels between a Slurm shard and a single-machine run.
TEST_CASE("linear layers give each row of a batch what it gives alone, bit for bit", "[engine][ops]") {
  auto b = make_cpu_backend(0);
  for (auto [in, out] : {std::pair{64, 256}, std::pair{256, 256}, std::pair{256, 512}}) {
    const int n = 8;
    DYNAMIC_SECTION(in << " -> " << out) {
      std::vector<float> x = reddiff_test::random_normal(size_t(n) * in, 11 + in);
      Param w, bias;
      w.name = "w", w.shape = {out, in}, w.data = reddiff_test::random_normal(size_t(out) * in, 12 + out, 0.1f);
      bias.name = "b", bias.shape = {out}, bias.data = reddiff_test::random_normal(size_t(out), 13);
      Op op;
      op.kind = OpKind::Linear;
      op.weight = &w, op.bias = &bias, op.silu = true;
      std::vector<float> all(size_t(n) * out, std::nanf(""));
      run_op(*b, op, {{&x, {n, in}}}, all, {n, out});
      for (int r = 0; r < n; ++r) {
        std::vector<float> xr(x.begin() + int64_t(r) * in, x.begin() + int64_t(r + 1) * in), one(out, std::nanf(""));
        run_op(*b, op, {{&xr, {1, in}}}, one, {1, out});
        INFO("row " << r);
        CHECK(std::equal(one.begin(), one.end(), all.begin() + int64_t(r) * out));
      }
    }
  }
}
