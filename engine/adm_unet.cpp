#include "engine/adm_unet.h"

#include <algorithm>
#include <map>
#include <memory>

#include "base/error.h"

namespace reddiff {

void adm_padded_size(const AdmConfig& c, int h, int w, int* hp, int* wp) {
  int m = c.size_multiple();
  *hp = (h + m - 1) / m * m;
  *wp = (w + m - 1) / m * m;
  if (*hp - h >= h || *wp - w >= w)
    throw Error("image of " + std::to_string(h) + "x" + std::to_string(w) +
                " is too small for this model (reflect padding to a multiple of " + std::to_string(m) +
                " needs at least " + std::to_string(m / 2 + 1) + " pixels per side)");
}

namespace {

enum class Resample { None, Up, Down };

struct Builder {
  const AdmConfig& c;
  const ModelWeights& w;
  Graph& g;
  DType act;
  // fuse_embedding: the stacked time-embedding linear's output and each block's first column in it.
  int emb_all = -1;
  std::map<std::string, int> emb_col;

  int64_t H(int v) const { return g.value(v).shape[1]; }
  int64_t W(int v) const { return g.value(v).shape[2]; }
  int64_t C(int v) const { return g.value(v).shape.back(); }

  int conv(int x, const std::string& p, int stride, int residual = -1, DType out_dtype = DType::F32,
           bool keep_dtype = true) {
    const Param& wt = w.get(p + ".weight");
    int k = wt.shape.size() == 4 ? int(wt.shape[2]) : 1;
    int pad = k / 2;
    int64_t ho = (H(x) + 2 * pad - k) / stride + 1, wo = (W(x) + 2 * pad - k) / stride + 1;
    DType dt = keep_dtype ? g.value(x).dtype : out_dtype;
    int y = g.add_value({g.n, ho, wo, wt.shape[0]}, dt, p);
    std::vector<int> in{x};
    if (residual >= 0) in.push_back(residual);
    Op& op = g.add_op(OpKind::Conv2d, in, y, p);
    op.weight = &wt;
    op.bias = &w.get(p + ".bias");
    op.kernel = k, op.stride = stride, op.pad = pad;
    return y;
  }

  int norm(int x, const std::string& p, bool silu, NormMod mod = NormMod::None, int mod_value = -1,
           DType out = DType::F32, bool keep_dtype = true, int mod_offset = 0) {
    int y = g.add_value(g.value(x).shape, keep_dtype ? g.value(x).dtype : out, p);
    std::vector<int> in{x};
    if (mod != NormMod::None) in.push_back(mod_value);
    Op& op = g.add_op(OpKind::GroupNorm, in, y, p);
    op.weight = &w.get(p + ".weight");
    op.bias = &w.get(p + ".bias");
    op.mod = mod;
    op.mod_offset = mod_offset;
    op.silu = silu;
    return y;
  }

  int linear(int x, const std::string& p, bool silu_in) {
    const Param& wt = w.get(p + ".weight");
    int y = g.add_value({g.n, wt.shape[0]}, DType::F32, p);
    Op& op = g.add_op(OpKind::Linear, {x}, y, p);
    op.weight = &wt;
    op.bias = &w.get(p + ".bias");
    op.silu = silu_in;
    return y;
  }

  // fuse_embedding: stacks every `*.emb_layers.1` linear of the model ([out, E] weight, [out] bias) into
  // one [sum of out, E] parameter of g.derived, runs it once on silu(emb) and records each block's columns.
  void stack_embedding_linears(int emb) {
    const int64_t e = g.value(emb).shape[1];
    static const std::string suffix = ".emb_layers.1.weight";
    std::vector<std::pair<const Param*, const Param*>> parts;
    int64_t rows = 0;
    for (const auto& kv : w.params) {
      const std::string& name = kv.first;
      if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
        continue;
      const std::string prefix = name.substr(0, name.size() - 7);  // without ".weight"
      const Param* wt = &kv.second;
      const Param* bs = w.find(prefix + ".bias");
      if (!bs || wt->shape.size() != 2 || wt->shape[1] != e || bs->numel() != wt->shape[0]) continue;
      emb_col[prefix] = int(rows);
      rows += wt->shape[0];
      parts.push_back({wt, bs});
    }
    if (parts.empty()) return;
    g.derived = std::make_shared<ModelWeights>();
    Param& wt = g.derived->params["emb_layers.1.weight (stacked)"];
    Param& bs = g.derived->params["emb_layers.1.bias (stacked)"];
    wt.name = "emb_layers.1.weight (stacked)", bs.name = "emb_layers.1.bias (stacked)";
    wt.shape = {rows, e}, bs.shape = {rows};
    wt.data.reserve(size_t(rows * e)), bs.data.reserve(size_t(rows));
    for (const auto& pb : parts) {
      wt.data.insert(wt.data.end(), pb.first->data.begin(), pb.first->data.end());
      bs.data.insert(bs.data.end(), pb.second->data.begin(), pb.second->data.end());
    }
    emb_all = g.add_value({g.n, rows}, DType::F32, "emb_layers.1 (stacked)");
    Op& op = g.add_op(OpKind::Linear, {emb}, emb_all, "emb_layers.1 (stacked)");
    op.weight = &wt, op.bias = &bs, op.silu = true;
  }

  int resample(int x, Resample r, const std::string& name) {
    if (r == Resample::None) return x;
    const auto& s = g.value(x).shape;
    int64_t f = r == Resample::Up ? 2 : 1;
    int64_t d = r == Resample::Down ? 2 : 1;
    int y = g.add_value({s[0], s[1] * f / d, s[2] * f / d, s[3]}, g.value(x).dtype, name);
    g.add_op(r == Resample::Up ? OpKind::Upsample2 : OpKind::AvgPool2, {x}, y, name);
    return y;
  }

  int resblock(int x, int emb, const std::string& p, int cout, Resample r) {
    int a = norm(x, p + ".in_layers.0", true);
    int xs = x;
    if (r != Resample::None) {
      a = resample(a, r, p + ".h_upd");
      xs = resample(x, r, p + ".x_upd");
    }
    int h = conv(a, p + ".in_layers.2", 1);
    const auto col = emb_col.find(p + ".emb_layers.1");
    const bool stacked = emb_all >= 0 && col != emb_col.end();
    int e = stacked ? emb_all : linear(emb, p + ".emb_layers.1", true);
    int b = norm(h, p + ".out_layers.0", true, c.use_scale_shift_norm ? NormMod::ScaleShift : NormMod::AddBias, e,
                 DType::F32, true, stacked ? col->second : 0);
    int skip = C(x) == cout ? xs : conv(xs, p + ".skip_connection", 1);
    return conv(b, p + ".out_layers.3", 1, skip);
  }

  int attention(int x, const std::string& p, bool upsample) {
    int ch = int(C(x));
    int a = norm(x, p + ".norm", false);
    int qkv = conv(a, p + ".qkv", 1);
    int att = g.add_value(g.value(x).shape, g.value(x).dtype, p + ".attention");
    Op& op = g.add_op(OpKind::Attention, {qkv}, att, p + ".attention");
    op.heads = c.heads_for(ch, upsample);
    op.legacy_order = !c.use_new_attention_order;
    if (op.heads <= 0 || ch % op.heads)
      throw Error("attention " + p + ": " + std::to_string(ch) + " channels do not split into " +
                  std::to_string(op.heads) + " heads");
    return conv(att, p + ".proj_out", 1, x);
  }

  int downsample(int x, const std::string& p, int emb) {
    if (c.resblock_updown) return resblock(x, emb, p + ".0", int(C(x)), Resample::Down);
    if (c.conv_resample) return conv(x, p + ".0.op", 2);
    return resample(x, Resample::Down, p + ".0.op");
  }

  int upsample(int x, const std::string& p, int emb) {
    if (c.resblock_updown) return resblock(x, emb, p, int(C(x)), Resample::Up);
    int u = resample(x, Resample::Up, p + ".up");
    if (c.conv_resample) return conv(u, p + ".conv", 1);
    return u;
  }
};

}  // namespace

Graph build_adm_graph(const AdmConfig& c, const ModelWeights& w, int n, int h, int w_, DType act, bool fuse_embedding) {
  Graph g;
  g.n = n, g.h = h, g.w = w_;
  g.act_dtype = act;
  adm_padded_size(c, h, w_, &g.hp, &g.wp);
  Builder b{c, w, g, act, -1, {}};

  g.x_in = g.add_value({n, c.in_channels, h, w_}, DType::F32, "x", ValueKind::External);
  g.t_in = g.add_value({n}, DType::F32, "t", ValueKind::External);
  // Labels are int32; the value only records the 4-byte element size.
  if (c.num_classes > 0) g.labels_in = g.add_value({n}, DType::F32, "labels", ValueKind::External);
  g.out = g.add_value({n, c.out_channels, h, w_}, DType::F32, "out", ValueKind::External);

  // Time embedding and class label (f32).
  int temb = g.add_value({n, c.model_channels}, DType::F32, "timestep_embedding");
  g.add_op(OpKind::TimestepEmbed, {g.t_in}, temb, "timestep_embedding");
  int e = b.linear(temb, "time_embed.0", false);
  int emb = b.linear(e, "time_embed.2", true);
  if (c.num_classes > 0) {
    int e2 = g.add_value({n, c.time_embed_dim()}, DType::F32, "label_emb");
    Op& op = g.add_op(OpKind::LabelEmbedAdd, {emb, g.labels_in}, e2, "label_emb");
    op.weight = &w.get("label_emb.weight");
    emb = e2;
  }
  if (fuse_embedding) b.stack_embedding_linears(emb);

  int x = g.add_value({n, g.hp, g.wp, c.in_channels}, act, "input");
  g.add_op(OpKind::InputPad, {g.x_in}, x, "input");

  auto ds_set = c.attention_ds();
  auto has_attn = [&](int ds) { return std::find(ds_set.begin(), ds_set.end(), ds) != ds_set.end(); };

  int hcur = b.conv(x, "input_blocks.0.0", 1);
  std::vector<int> skips{hcur};
  int ds = 1, blk = 1;
  for (int level = 0; level < c.levels(); ++level) {
    for (int i = 0; i < c.num_res_blocks; ++i, ++blk) {
      std::string p = "input_blocks." + std::to_string(blk);
      hcur = b.resblock(hcur, emb, p + ".0", c.level_channels(level), Resample::None);
      if (has_attn(ds)) hcur = b.attention(hcur, p + ".1", false);
      skips.push_back(hcur);
    }
    if (level != c.levels() - 1) {
      hcur = b.downsample(hcur, "input_blocks." + std::to_string(blk++), emb);
      skips.push_back(hcur);
      ds *= 2;
    }
  }
  hcur = b.resblock(hcur, emb, "middle_block.0", int(b.C(hcur)), Resample::None);
  hcur = b.attention(hcur, "middle_block.1", false);
  hcur = b.resblock(hcur, emb, "middle_block.2", int(b.C(hcur)), Resample::None);

  blk = 0;
  for (int level = c.levels() - 1; level >= 0; --level) {
    for (int i = 0; i <= c.num_res_blocks; ++i, ++blk) {
      std::string p = "output_blocks." + std::to_string(blk);
      int skip = skips.back();
      skips.pop_back();
      const auto& s = g.value(hcur).shape;
      int cat = g.add_value({s[0], s[1], s[2], s[3] + b.C(skip)}, act, p + ".cat");
      g.add_op(OpKind::Concat, {hcur, skip}, cat, p + ".cat");
      hcur = b.resblock(cat, emb, p + ".0", c.level_channels(level), Resample::None);
      int sub = 1;
      if (has_attn(ds)) hcur = b.attention(hcur, p + "." + std::to_string(sub++), true);
      if (level && i == c.num_res_blocks) {
        hcur = b.upsample(hcur, p + "." + std::to_string(sub), emb);
        ds /= 2;
      }
    }
  }
  // Output head in f32 (guided-diffusion casts h back to the input dtype before `out`).
  int a = b.norm(hcur, "out.0", true, NormMod::None, -1, DType::F32, false);
  int y = b.conv(a, "out.2", 1);
  g.add_op(OpKind::OutputCrop, {y}, g.out, "output");
  return g;
}

}  // namespace reddiff
