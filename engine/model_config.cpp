#include "engine/model_config.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "base/error.h"

namespace reddiff {

std::string shape_string(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

std::vector<int> AdmConfig::attention_ds() const {
  std::vector<int> ds;
  for (int r : attention_resolutions) ds.push_back(image_size / r);
  return ds;
}

int AdmConfig::heads_for(int channels, bool upsample) const {
  if (num_head_channels != -1) return channels / num_head_channels;
  if (upsample && num_heads_upsample != -1) return num_heads_upsample;
  return num_heads;
}

void AdmConfig::validate() const {
  auto bad = [](const std::string& m) { throw Error("model config: " + m); };
  if (image_size <= 0) bad("image_size must be positive");
  if (in_channels <= 0 || out_channels <= 0) bad("channel counts must be positive");
  if (model_channels <= 0 || model_channels % 2) bad("model_channels must be positive and even");
  if (channel_mult.empty()) bad("channel_mult is empty");
  if (num_res_blocks < 1) bad("num_res_blocks must be at least 1");
  for (double m : channel_mult) {
    int ch = int(m * model_channels);
    if (m <= 0 || ch % 32)
      bad("channel_mult gives " + std::to_string(ch) + " channels, not a multiple of 32 (GroupNorm)");
  }
  for (int r : attention_resolutions)
    if (r <= 0 || image_size % r) bad("attention resolution " + std::to_string(r) + " does not divide image_size");
  if (num_head_channels != -1) {
    if (num_head_channels <= 0) bad("num_head_channels must be positive or -1");
  } else if (num_heads <= 0) {
    bad("num_heads must be positive");
  }
  if (learn_sigma && out_channels != 2 * in_channels) bad("learn_sigma needs out_channels = 2 * in_channels");
  if (num_classes < 0) bad("num_classes must be >= 0");
}

std::vector<double> Schedule::betas() const {
  std::vector<double> b(static_cast<size_t>(num_timesteps));
  if (kind == "linear") {
    // guided-diffusion: scale = 1000 / T, linspace(scale*1e-4, scale*0.02, T) in float64
    double scale = 1000.0 / num_timesteps, lo = scale * 0.0001, hi = scale * 0.02;
    for (int i = 0; i < num_timesteps; ++i)
      b[size_t(i)] = num_timesteps == 1 ? lo : lo + (hi - lo) * i / double(num_timesteps - 1);
  } else if (kind == "cosine") {
    auto f = [](double t) {
      double c = std::cos((t + 0.008) / 1.008 * M_PI / 2);
      return c * c;
    };
    for (int i = 0; i < num_timesteps; ++i) {
      double t1 = double(i) / num_timesteps, t2 = double(i + 1) / num_timesteps;
      b[size_t(i)] = std::min(1 - f(t2) / f(t1), 0.999);
    }
  } else {
    throw Error("unknown noise schedule '" + kind + "' (linear or cosine)");
  }
  return b;
}

std::vector<double> Schedule::alphas_cumprod() const {
  auto b = betas();
  std::vector<double> a(b.size());
  double p = 1;
  for (size_t i = 0; i < b.size(); ++i) a[i] = p *= (1 - b[i]);
  return a;
}

nlohmann::json to_json(const AdmConfig& c) {
  return {{"image_size", c.image_size},
          {"in_channels", c.in_channels},
          {"model_channels", c.model_channels},
          {"out_channels", c.out_channels},
          {"num_res_blocks", c.num_res_blocks},
          {"attention_resolutions", c.attention_resolutions},
          {"channel_mult", c.channel_mult},
          {"num_classes", c.num_classes},
          {"num_heads", c.num_heads},
          {"num_head_channels", c.num_head_channels},
          {"num_heads_upsample", c.num_heads_upsample},
          {"use_scale_shift_norm", c.use_scale_shift_norm},
          {"resblock_updown", c.resblock_updown},
          {"conv_resample", c.conv_resample},
          {"use_new_attention_order", c.use_new_attention_order},
          {"learn_sigma", c.learn_sigma},
          {"use_fp16", c.use_fp16},
          {"dropout", c.dropout}};
}

AdmConfig adm_config_from_json(const nlohmann::json& j) {
  AdmConfig c;
  if (!j.is_object()) throw Error("model config is not a JSON object");
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      const auto& v = it.value();
      if (k == "image_size")
        c.image_size = v.get<int>();
      else if (k == "in_channels")
        c.in_channels = v.get<int>();
      else if (k == "model_channels")
        c.model_channels = v.get<int>();
      else if (k == "out_channels")
        c.out_channels = v.get<int>();
      else if (k == "num_res_blocks")
        c.num_res_blocks = v.get<int>();
      else if (k == "attention_resolutions")
        c.attention_resolutions = v.get<std::vector<int>>();
      else if (k == "channel_mult")
        c.channel_mult = v.get<std::vector<double>>();
      else if (k == "num_classes")
        c.num_classes = v.get<int>();
      else if (k == "num_heads")
        c.num_heads = v.get<int>();
      else if (k == "num_head_channels")
        c.num_head_channels = v.get<int>();
      else if (k == "num_heads_upsample")
        c.num_heads_upsample = v.get<int>();
      else if (k == "use_scale_shift_norm")
        c.use_scale_shift_norm = v.get<bool>();
      else if (k == "resblock_updown")
        c.resblock_updown = v.get<bool>();
      else if (k == "conv_resample")
        c.conv_resample = v.get<bool>();
      else if (k == "use_new_attention_order")
        c.use_new_attention_order = v.get<bool>();
      else if (k == "learn_sigma")
        c.learn_sigma = v.get<bool>();
      else if (k == "use_fp16")
        c.use_fp16 = v.get<bool>();
      else if (k == "dropout")
        c.dropout = v.get<double>();
      else
        throw Error("model config: unknown key '" + k + "'");
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("model config: wrong value type (") + e.what() + ")");
  }
  return c;
}

nlohmann::json to_json(const Schedule& s) { return {{"kind", s.kind}, {"num_timesteps", s.num_timesteps}}; }

Schedule schedule_from_json(const nlohmann::json& j) {
  Schedule s;
  try {
    s.kind = j.at("kind").get<std::string>();
    s.num_timesteps = j.at("num_timesteps").get<int>();
  } catch (const nlohmann::json::exception&) {
    throw Error("diffusion schedule metadata is malformed");
  }
  if (s.kind != "linear" && s.kind != "cosine") throw Error("unknown noise schedule '" + s.kind + "'");
  if (s.num_timesteps < 1 || s.num_timesteps > 100000) throw Error("diffusion schedule has invalid T");
  return s;
}

static bool parse_bool(const std::string& key, const std::string& v) {
  std::string l = v;
  std::transform(l.begin(), l.end(), l.begin(), ::tolower);
  if (l == "true" || l == "1" || l == "yes") return true;
  if (l == "false" || l == "0" || l == "no") return false;
  throw Error("--set " + key + ": expected true or false, got '" + v + "'");
}

static int parse_int(const std::string& key, const std::string& v) {
  try {
    size_t pos;
    int r = std::stoi(v, &pos);
    if (pos == v.size()) return r;
  } catch (...) {}
  throw Error("--set " + key + ": expected an integer, got '" + v + "'");
}

static std::vector<std::string> split_commas(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t\"'"));
    item.erase(item.find_last_not_of(" \t\"'") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool set_flag(ModelConfig& mc, const std::string& key, const std::string& v) {
  AdmConfig& c = mc.adm;
  if (key == "image_size")
    c.image_size = parse_int(key, v);
  else if (key == "num_channels" || key == "model_channels")
    c.model_channels = parse_int(key, v);
  else if (key == "num_res_blocks")
    c.num_res_blocks = parse_int(key, v);
  else if (key == "num_heads")
    c.num_heads = parse_int(key, v);
  else if (key == "num_head_channels")
    c.num_head_channels = parse_int(key, v);
  else if (key == "num_heads_upsample")
    c.num_heads_upsample = parse_int(key, v);
  else if (key == "attention_resolutions") {
    c.attention_resolutions.clear();
    for (auto& s : split_commas(v)) c.attention_resolutions.push_back(parse_int(key, s));
  } else if (key == "channel_mult") {
    c.channel_mult.clear();
    for (auto& s : split_commas(v)) {
      try {
        c.channel_mult.push_back(std::stod(s));
      } catch (...) {
        throw Error("--set channel_mult: expected numbers like 1,1,2,2,4,4, got '" + v + "'");
      }
    }
  } else if (key == "use_scale_shift_norm")
    c.use_scale_shift_norm = parse_bool(key, v);
  else if (key == "resblock_updown")
    c.resblock_updown = parse_bool(key, v);
  else if (key == "conv_resample")
    c.conv_resample = parse_bool(key, v);
  else if (key == "use_new_attention_order")
    c.use_new_attention_order = parse_bool(key, v);
  else if (key == "learn_sigma") {
    c.learn_sigma = parse_bool(key, v);
    c.out_channels = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  } else if (key == "class_cond")
    c.num_classes = parse_bool(key, v) ? 1000 : 0;
  else if (key == "num_classes")
    c.num_classes = parse_int(key, v);
  else if (key == "use_fp16")
    c.use_fp16 = parse_bool(key, v);
  else if (key == "dropout")
    c.dropout = std::atof(v.c_str());
  else if (key == "noise_schedule") {
    if (v != "linear" && v != "cosine") throw Error("--set noise_schedule: linear or cosine, got '" + v + "'");
    mc.schedule.kind = v;
  } else if (key == "diffusion_steps")
    mc.schedule.num_timesteps = parse_int(key, v);
  else if (key == "use_checkpoint" || key == "rescale_learned_sigmas" || key == "use_kl" || key == "predict_xstart" ||
           key == "rescale_timesteps" || key == "timestep_respacing")
    ;  // accepted for copy-paste compatibility; they do not change the network
  else
    return false;
  return true;
}

// ---------------------------------------------------------------- tensor table

namespace {

struct TableBuilder {
  const AdmConfig& c;
  std::vector<TensorSpec> out;
  void add(const std::string& n, std::vector<int64_t> s) { out.push_back({n, std::move(s)}); }
  void norm(const std::string& p, int ch) {
    add(p + ".weight", {ch});
    add(p + ".bias", {ch});
  }
  void conv(const std::string& p, int cout, int cin, int k) {
    add(p + ".weight", {cout, cin, k, k});
    add(p + ".bias", {cout});
  }
  void resblock(const std::string& p, int cin, int cout) {
    norm(p + ".in_layers.0", cin);
    conv(p + ".in_layers.2", cout, cin, 3);
    int e = c.use_scale_shift_norm ? 2 * cout : cout;
    add(p + ".emb_layers.1.weight", {e, c.time_embed_dim()});
    add(p + ".emb_layers.1.bias", {e});
    norm(p + ".out_layers.0", cout);
    conv(p + ".out_layers.3", cout, cout, 3);
    if (cin != cout) conv(p + ".skip_connection", cout, cin, 1);
  }
  void attention(const std::string& p, int ch) {
    norm(p + ".norm", ch);
    add(p + ".qkv.weight", {3 * ch, ch, 1});
    add(p + ".qkv.bias", {3 * ch});
    add(p + ".proj_out.weight", {ch, ch, 1});
    add(p + ".proj_out.bias", {ch});
  }
};

}  // namespace

std::vector<TensorSpec> expected_tensors(const AdmConfig& c) {
  TableBuilder t{c, {}};
  int mc = c.model_channels, ted = c.time_embed_dim();
  t.add("time_embed.0.weight", {ted, mc});
  t.add("time_embed.0.bias", {ted});
  t.add("time_embed.2.weight", {ted, ted});
  t.add("time_embed.2.bias", {ted});
  if (c.num_classes > 0) t.add("label_emb.weight", {c.num_classes, ted});
  auto ds_set = c.attention_ds();
  auto has_attn = [&](int ds) { return std::find(ds_set.begin(), ds_set.end(), ds) != ds_set.end(); };
  int ch = c.level_channels(0);
  t.conv("input_blocks.0.0", ch, c.in_channels, 3);
  std::vector<int> chans{ch};
  int ds = 1, blk = 1;
  for (int level = 0; level < c.levels(); ++level) {
    for (int i = 0; i < c.num_res_blocks; ++i, ++blk) {
      std::string p = "input_blocks." + std::to_string(blk);
      int out = c.level_channels(level);
      t.resblock(p + ".0", ch, out);
      ch = out;
      if (has_attn(ds)) t.attention(p + ".1", ch);
      chans.push_back(ch);
    }
    if (level != c.levels() - 1) {
      std::string p = "input_blocks." + std::to_string(blk++);
      if (c.resblock_updown)
        t.resblock(p + ".0", ch, ch);
      else if (c.conv_resample)
        t.conv(p + ".0.op", ch, ch, 3);
      chans.push_back(ch);
      ds *= 2;
    }
  }
  t.resblock("middle_block.0", ch, ch);
  t.attention("middle_block.1", ch);
  t.resblock("middle_block.2", ch, ch);
  blk = 0;
  for (int level = c.levels() - 1; level >= 0; --level) {
    for (int i = 0; i <= c.num_res_blocks; ++i, ++blk) {
      std::string p = "output_blocks." + std::to_string(blk);
      int ich = chans.back();
      chans.pop_back();
      int out = c.level_channels(level);
      t.resblock(p + ".0", ch + ich, out);
      ch = out;
      int sub = 1;
      if (has_attn(ds)) t.attention(p + "." + std::to_string(sub++), ch);
      if (level && i == c.num_res_blocks) {
        std::string q = p + "." + std::to_string(sub);
        if (c.resblock_updown)
          t.resblock(q, ch, ch);
        else if (c.conv_resample)
          t.conv(q + ".conv", ch, ch, 3);
        ds /= 2;
      }
    }
  }
  t.norm("out.0", ch);
  t.conv("out.2", c.out_channels, c.level_channels(0), 3);
  return t.out;
}

// ---------------------------------------------------------------- FLOPs

double forward_flops(const AdmConfig& c, int h, int w) {
  double f = 0;
  auto conv = [&](int cin, int cout, int k, int hh, int ww) { f += 2.0 * cin * cout * k * k * hh * ww; };
  auto linear = [&](int in, int out) { f += 2.0 * in * out; };
  int ted = c.time_embed_dim();
  linear(c.model_channels, ted);
  linear(ted, ted);
  auto resblock = [&](int cin, int cout, int hh, int ww, int oh, int ow) {
    conv(cin, cout, 3, oh, ow);
    linear(ted, c.use_scale_shift_norm ? 2 * cout : cout);
    conv(cout, cout, 3, oh, ow);
    if (cin != cout) conv(cin, cout, 1, oh, ow);
  };
  auto attention = [&](int ch, int hh, int ww) {
    double t = double(hh) * ww;
    conv(ch, 3 * ch, 1, hh, ww);
    f += 2.0 * 2.0 * t * t * ch;  // QK^T and AV over all heads
    conv(ch, ch, 1, hh, ww);
  };
  auto ds_set = c.attention_ds();
  auto has_attn = [&](int ds) { return std::find(ds_set.begin(), ds_set.end(), ds) != ds_set.end(); };
  int ch = c.level_channels(0), ds = 1, hh = h, ww = w;
  conv(c.in_channels, ch, 3, hh, ww);
  std::vector<int> chans{ch};
  for (int level = 0; level < c.levels(); ++level) {
    for (int i = 0; i < c.num_res_blocks; ++i) {
      int out = c.level_channels(level);
      resblock(ch, out, hh, ww, hh, ww);
      ch = out;
      if (has_attn(ds)) attention(ch, hh, ww);
      chans.push_back(ch);
    }
    if (level != c.levels() - 1) {
      if (c.resblock_updown)
        resblock(ch, ch, hh, ww, hh / 2, ww / 2);
      else if (c.conv_resample)
        conv(ch, ch, 3, hh / 2, ww / 2);
      hh /= 2, ww /= 2, ds *= 2;
      chans.push_back(ch);
    }
  }
  resblock(ch, ch, hh, ww, hh, ww);
  attention(ch, hh, ww);
  resblock(ch, ch, hh, ww, hh, ww);
  for (int level = c.levels() - 1; level >= 0; --level) {
    for (int i = 0; i <= c.num_res_blocks; ++i) {
      int ich = chans.back();
      chans.pop_back();
      int out = c.level_channels(level);
      resblock(ch + ich, out, hh, ww, hh, ww);
      ch = out;
      if (has_attn(ds)) attention(ch, hh, ww);
      if (level && i == c.num_res_blocks) {
        if (c.resblock_updown)
          resblock(ch, ch, hh, ww, hh * 2, ww * 2);
        else if (c.conv_resample)
          conv(ch, ch, 3, hh * 2, ww * 2);
        hh *= 2, ww *= 2, ds /= 2;
      }
    }
  }
  conv(c.level_channels(0), c.out_channels, 3, hh, ww);
  return f;
}

}  // namespace reddiff
