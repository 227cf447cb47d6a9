#include "weights_converter/config_inference.h"

#include <algorithm>
#include <set>

#include "base/error.h"
#include "weights_converter/pickle_machine.h"

namespace reddiff {

namespace {

struct Sub {
  bool any = false, in_layers = false, qkv = false, op = false, conv = false;
};
using Blocks = std::map<int, std::map<int, Sub>>;  // block index -> sub-module index -> what it holds

// Parses "<prefix>K.J.rest" into K, J, rest.
bool parse_block(const std::string& name, const std::string& prefix, int* k, int* j, std::string* rest) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t p = prefix.size();
  auto number = [&](int* out) {
    size_t s = p;
    long v = 0;
    while (p < name.size() && name[p] >= '0' && name[p] <= '9' && p - s < 6) v = v * 10 + (name[p++] - '0');
    if (p == s || p >= name.size() || name[p] != '.') return false;
    ++p;
    *out = int(v);
    return true;
  };
  if (!number(k) || !number(j)) return false;
  *rest = name.substr(p);
  return true;
}

void scan(const ShapeMap& shapes, const std::string& prefix, Blocks& blocks) {
  for (const auto& kv : shapes) {
    int k, j;
    std::string rest;
    if (!parse_block(kv.first, prefix, &k, &j, &rest)) continue;
    Sub& s = blocks[k][j];
    s.any = true;
    if (rest.compare(0, 10, "in_layers.") == 0) s.in_layers = true;
    if (rest.compare(0, 4, "qkv.") == 0) s.qkv = true;
    if (rest.compare(0, 3, "op.") == 0) s.op = true;
    if (rest.compare(0, 5, "conv.") == 0) s.conv = true;
  }
}

[[noreturn]] void not_adm(const std::string& why) {
  throw Error("not a guided-diffusion (ADM) UNet state dict: " + why);
}

const std::vector<int64_t>& need(const ShapeMap& shapes, const std::string& name, size_t rank) {
  auto it = shapes.find(name);
  if (it == shapes.end()) not_adm("tensor '" + name + "' is missing");
  if (it->second.size() != rank)
    not_adm("tensor '" + name + "' has shape " + shape_string(it->second) + ", expected rank " + std::to_string(rank));
  return it->second;
}

}  // namespace

InferredConfig infer_adm_config(const ShapeMap& shapes) {
  if (shapes.count("temb.dense.0.weight") || shapes.count("conv_in.weight"))
    throw Error(
        "this is a DDPM-style UNet (DDRM/SDEdit naming: temb.dense, conv_in); the 'ddpm' architecture is not "
        "supported by this version of reddiff");
  InferredConfig r;
  AdmConfig& c = r.cfg;
  const auto& te = need(shapes, "time_embed.0.weight", 2);
  c.model_channels = int(te[1]);
  if (te[0] != 4 * te[1]) not_adm("time_embed.0.weight is " + shape_string(te) + ", expected [4*mc, mc]");
  auto ib0 = shapes.find("input_blocks.0.0.weight");
  if (ib0 != shapes.end() && ib0->second.size() != 4)
    throw Error("input_blocks.0.0.weight has rank " + std::to_string(ib0->second.size()) +
                ": only 2-D UNets (dims=2) are supported");
  const auto& in0 = need(shapes, "input_blocks.0.0.weight", 4);
  c.in_channels = int(in0[1]);
  const auto& o2 = need(shapes, "out.2.weight", 4);
  c.out_channels = int(o2[0]);
  c.learn_sigma = c.out_channels == 2 * c.in_channels;
  auto le = shapes.find("label_emb.weight");
  c.num_classes = le == shapes.end() ? 0 : int(need(shapes, "label_emb.weight", 2)[0]);

  Blocks in, out;
  scan(shapes, "input_blocks.", in);
  scan(shapes, "output_blocks.", out);
  if (out.empty()) not_adm("no output_blocks");
  int nib = in.rbegin()->first + 1, nob = out.rbegin()->first + 1;

  std::vector<int> ups;
  bool up_resblock = false, up_conv = false;
  for (const auto& b : out) {
    for (const auto& s : b.second) {
      if (s.first >= 1 && (s.second.in_layers || s.second.conv)) {
        ups.push_back(b.first);
        up_resblock |= s.second.in_layers;
        up_conv |= s.second.conv;
        break;
      }
    }
  }
  int nrb = -1;
  if (!ups.empty()) {
    nrb = ups[0];
  } else {
    for (int k = 1; k < nib; ++k)
      if (!in.count(k)) {  // a downsampler without parameters (conv_resample=False)
        nrb = k - 1;
        break;
      }
    if (nrb < 0) nrb = nob - 1;  // a single level
  }
  if (nrb < 1 || nob % (nrb + 1))
    not_adm("cannot make out the block structure from " + std::to_string(nob) + " output blocks");
  int levels = nob / (nrb + 1);
  if (levels > 12) not_adm("implausibly many levels (" + std::to_string(levels) + ")");
  c.num_res_blocks = nrb;
  if (!ups.empty()) {
    std::vector<int> expect;
    for (int l = 0; l + 1 < levels; ++l) expect.push_back(l * (nrb + 1) + nrb);
    if (ups != expect) not_adm("upsamplers sit in unexpected output blocks");
  }
  if (nib != 1 + levels * nrb + (levels - 1))
    not_adm(std::to_string(nib) + " input blocks do not fit " + std::to_string(levels) + " levels of " +
            std::to_string(nrb) + " res blocks");
  if (levels > 1) {
    auto d = in.find(nrb + 1);
    bool down_resblock = d != in.end() && d->second.count(0) && d->second.at(0).in_layers;
    bool down_conv = d != in.end() && d->second.count(0) && d->second.at(0).op;
    c.resblock_updown = down_resblock;
    c.conv_resample = down_resblock || down_conv;  // irrelevant with resblock_updown; guided-diffusion default
    if (down_resblock != up_resblock || (!down_resblock && down_conv != up_conv))
      not_adm("the downsamplers and upsamplers are of different kinds");
  }
  c.channel_mult.clear();
  r.attention_ds.clear();
  for (int l = 0; l < levels; ++l) {
    int k = 1 + l * (nrb + 1);
    const auto& w = need(shapes, "input_blocks." + std::to_string(k) + ".0.out_layers.3.weight", 4);
    c.channel_mult.push_back(double(w[0]) / double(c.model_channels));
    if (in.count(k) && in.at(k).count(1) && in.at(k).at(1).qkv) r.attention_ds.push_back(1 << l);
  }
  int ch0 = int(in0[0]);
  const auto& e = need(shapes, "input_blocks.1.0.emb_layers.1.weight", 2);
  const auto& o = need(shapes, "input_blocks.1.0.out_layers.3.weight", 4);
  if (e[0] == 2 * o[0])
    c.use_scale_shift_norm = true;
  else if (e[0] == o[0])
    c.use_scale_shift_norm = false;
  else
    not_adm("input_blocks.1.0.emb_layers.1.weight is " + shape_string(e) + ", neither C nor 2C rows");
  if (c.level_channels(0) != ch0)
    not_adm("input_blocks.0.0 has " + std::to_string(ch0) + " channels, level 0 has " +
            std::to_string(c.level_channels(0)));
  c.attention_resolutions.clear();
  return r;
}

std::vector<int> attention_resolutions_for(int image_size, const std::vector<int>& ds) {
  std::vector<int> r;
  for (int d : ds) r.push_back(image_size / d);
  std::sort(r.rbegin(), r.rend());
  return r;
}

std::string compare_with_config(const ShapeMap& shapes, const AdmConfig& cfg) {
  std::vector<std::string> missing, unexpected, misshaped;
  std::set<std::string> known;
  for (const auto& t : expected_tensors(cfg)) {
    known.insert(t.name);
    auto it = shapes.find(t.name);
    if (it == shapes.end())
      missing.push_back(t.name);
    else if (it->second != t.shape)
      misshaped.push_back(t.name + " is " + shape_string(it->second) + ", expected " + shape_string(t.shape));
  }
  for (const auto& kv : shapes)
    if (!known.count(kv.first)) unexpected.push_back(pickle::printable(kv.first, 120));
  if (missing.empty() && unexpected.empty() && misshaped.empty()) return "";
  auto list = [](const std::vector<std::string>& v, const char* what, const char* sep) {
    std::string r = std::to_string(v.size()) + " " + what + " (";
    for (size_t k = 0; k < v.size() && k < 6; ++k) r += (k ? sep : "") + v[k];
    if (v.size() > 6) r += std::string(sep) + "... " + std::to_string(v.size() - 6) + " more";
    return r + ")";
  };
  std::string r;
  if (!missing.empty()) r += list(missing, "missing", ", ");
  if (!unexpected.empty()) r += (r.empty() ? "" : "; ") + list(unexpected, "unexpected", ", ");
  if (!misshaped.empty()) r += (r.empty() ? "" : "; ") + list(misshaped, "misshaped", "; ");
  return r;
}

}  // namespace reddiff
