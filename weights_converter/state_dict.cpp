#include "weights_converter/state_dict.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "base/error.h"

namespace reddiff {

using pickle::Kind;
using pickle::printable;
using pickle::Value;

namespace {

constexpr int kMaxDepth = 8;

struct Candidate {
  std::string path;
  std::vector<StateDictTensor> tensors;
};

std::string display(const std::string& path) { return path.empty() ? "(top level)" : "'" + printable(path) + "'"; }

void gather(const Value* v, const pickle::Unpickled& objs, const std::string& path, int depth,
            std::unordered_set<const Value*>& seen, std::vector<Candidate>& out) {
  if (!v || depth > kMaxDepth || !seen.insert(v).second) return;
  auto child = [&](const std::string& k) { return path.empty() ? k : path + "." + k; };
  if (v->kind == Kind::Dict) {
    Candidate c{path, {}};
    std::unordered_map<std::string, size_t> index;
    for (const auto& e : v->entries) {
      if (e.first->kind != Kind::Str) continue;
      if (e.second->kind == Kind::Tensor) {
        StateDictTensor t{e.first->s, &objs.tensor(e.second)};
        auto it = index.find(t.name);
        if (it != index.end()) {
          c.tensors[it->second] = t;
        } else {
          index[t.name] = c.tensors.size();
          c.tensors.push_back(t);
        }
      }
    }
    if (!c.tensors.empty()) out.push_back(std::move(c));
    for (const auto& e : v->entries)
      if (e.first->kind == Kind::Str &&
          (e.second->kind == Kind::Dict || e.second->kind == Kind::List || e.second->kind == Kind::Tuple))
        gather(e.second, objs, child(e.first->s), depth + 1, seen, out);
  } else if (v->kind == Kind::List || v->kind == Kind::Tuple) {
    for (size_t k = 0; k < v->items.size(); ++k)
      gather(v->items[k], objs, child(std::to_string(k)), depth + 1, seen, out);
  }
}

bool has_suffix(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// A dict that holds a diffusion UNet (ADM or DDPM naming), possibly under a wrapper prefix.
bool looks_like_model(const Candidate& c) {
  for (const auto& t : c.tensors)
    if (has_suffix(t.name, "time_embed.0.weight") || has_suffix(t.name, "temb.dense.0.weight") ||
        has_suffix(t.name, "input_blocks.0.0.weight"))
      return true;
  return false;
}

bool is_ema(const std::string& path) {
  std::string last = path.substr(path.find_last_of('.') == std::string::npos ? 0 : path.find_last_of('.') + 1);
  std::transform(last.begin(), last.end(), last.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return last.find("ema") != std::string::npos;
}

std::string list_paths(const std::vector<Candidate>& cs) {
  std::string r;
  for (size_t k = 0; k < cs.size() && k < 8; ++k) r += (k ? ", " : "") + display(cs[k].path);
  if (cs.size() > 8) r += ", ...";
  return r;
}

// Removes a prefix every key shares (DDP's "module.", Lightning's "model.") when that reveals UNet names.
std::string strip_prefix(std::vector<StateDictTensor>& ts) {
  std::string prefix;
  for (const char* anchor : {"time_embed.0.weight", "temb.dense.0.weight", "input_blocks.0.0.weight"}) {
    for (const auto& t : ts) {
      if (t.name == anchor) return "";
      if (has_suffix(t.name, std::string(".") + anchor)) {
        prefix = t.name.substr(0, t.name.size() - std::strlen(anchor));
        break;
      }
    }
    if (!prefix.empty()) break;
  }
  if (prefix.empty()) return "";
  for (const auto& t : ts)
    if (t.name.compare(0, prefix.size(), prefix) != 0) return "";
  for (auto& t : ts) t.name.erase(0, prefix.size());
  return prefix;
}

}  // namespace

StateDict select_state_dict(const Value* root, const pickle::Unpickled& objs, const std::string& forced_path) {
  std::vector<Candidate> all;
  std::unordered_set<const Value*> seen;
  gather(root, objs, "", 0, seen, all);
  if (all.empty()) throw Error("the checkpoint holds no tensors reachable through string keys (not a state dict)");

  StateDict sd;
  const Candidate* pick = nullptr;
  std::vector<Candidate> pool;
  if (!forced_path.empty()) {
    for (const auto& c : all)
      if (c.path == forced_path || (forced_path == "." && c.path.empty())) pick = &c;
    if (!pick)
      throw Error("--key " + printable(forced_path) + ": no dict of tensors there; the checkpoint has " +
                  list_paths(all));
    sd.note = "state dict " + display(pick->path) + " (chosen by --key)";
  } else {
    for (const auto& c : all)
      if (looks_like_model(c)) pool.push_back(c);
    bool model_like = !pool.empty();
    if (!model_like) pool = all;
    std::vector<const Candidate*> ema;
    for (const auto& c : pool)
      if (is_ema(c.path)) ema.push_back(&c);
    auto others_than = [&](const Candidate* chosen) {
      std::string r;
      for (const auto& c : pool)
        if (&c != chosen) r += (r.empty() ? "" : ", ") + display(c.path);
      return r;
    };
    if (pool.size() == 1) {
      pick = &pool[0];
      sd.note = "state dict " + display(pick->path);
    } else if (ema.size() == 1) {
      pick = ema[0];
      sd.note = "state dict " + display(pick->path) + " (the EMA weights; also present: " + others_than(pick) + ")";
    } else if (ema.size() > 1) {
      std::vector<Candidate> e;
      for (auto* c : ema) e.push_back(*c);
      throw Error("the checkpoint holds several EMA state dicts (" + list_paths(e) + "); choose one with --key");
    } else {
      for (const char* pref : {"", "state_dict", "model", "model_state_dict", "net", "network", "params"})
        for (const auto& c : pool)
          if (!pick && c.path == pref) pick = &c;
      if (!pick)
        throw Error("the checkpoint holds several state dicts (" + list_paths(pool) + "); choose one with --key");
      sd.note = "state dict " + display(pick->path) + " (also present: " + others_than(pick) + ")";
    }
    if (!model_like) sd.note += "; no UNet key names found";
  }
  sd.path = pick->path;
  sd.tensors = pick->tensors;
  sd.stripped_prefix = strip_prefix(sd.tensors);
  if (!sd.stripped_prefix.empty()) sd.note += ", key prefix '" + printable(sd.stripped_prefix) + "' removed";
  return sd;
}

}  // namespace reddiff
