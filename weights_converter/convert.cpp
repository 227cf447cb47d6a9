#include "weights_converter/convert.h"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

#include "base/error.h"
#include "engine/safetensors.h"
#include "weights_converter/checkpoint.h"
#include "weights_converter/presets.h"
#include "weights_converter/progress.h"
#include "weights_converter/sha256.h"
#include "weights_converter/state_dict.h"

namespace reddiff {

using pickle::printable;

namespace {

std::string basename_of(const std::string& p) {
  size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string with_commas(uint64_t n) {
  std::string s = std::to_string(n), r;
  for (size_t k = 0; k < s.size(); ++k) {
    if (k && (s.size() - k) % 3 == 0) r.push_back(',');
    r.push_back(s[k]);
  }
  return r;
}

std::string join_ints(const std::vector<int>& v) {
  std::string r;
  for (size_t k = 0; k < v.size(); ++k) r += (k ? "," : "") + std::to_string(v[k]);
  return r;
}

std::string join_mult(const std::vector<double>& v) {
  std::string r;
  for (size_t k = 0; k < v.size(); ++k) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v[k]);
    r += (k ? "," : "") + std::string(b);
  }
  return r;
}

// NaN/inf anywhere means a damaged or diverged checkpoint; the engine refuses such weights, so fail early.
bool all_finite(const void* p, DType t, uint64_t n) {
  switch (t) {
    case DType::F32: {
      const auto* u = static_cast<const uint32_t*>(p);
      for (uint64_t k = 0; k < n; ++k)
        if ((u[k] & 0x7f800000u) == 0x7f800000u) return false;
      return true;
    }
    case DType::F16:
    case DType::BF16: {
      const auto* u = static_cast<const uint16_t*>(p);
      uint16_t m = t == DType::F16 ? 0x7c00 : 0x7f80;
      for (uint64_t k = 0; k < n; ++k)
        if ((u[k] & m) == m) return false;
      return true;
    }
    case DType::F64: {
      const auto* u = static_cast<const uint64_t*>(p);
      for (uint64_t k = 0; k < n; ++k)
        if ((u[k] & 0x7ff0000000000000ull) == 0x7ff0000000000000ull) return false;
      return true;
    }
  }
  return true;
}

// The temporary output SafeTensorsWriter writes ("<out>.tmp-<pid>") is removed if we are interrupted.
char g_tmp_path[4096];

extern "C" void remove_tmp_and_die(int sig) {
  if (g_tmp_path[0]) ::unlink(g_tmp_path);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

struct TmpGuard {
  explicit TmpGuard(const std::string& out) {
    std::string t = out + ".tmp-" + std::to_string(getpid());
    if (t.size() < sizeof g_tmp_path) std::memcpy(g_tmp_path, t.c_str(), t.size() + 1);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) old_[s] = std::signal(s, remove_tmp_and_die);
  }
  ~TmpGuard() {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, old_[s]);
    g_tmp_path[0] = 0;
  }
  void (*old_[NSIG])(int) = {};
};

}  // namespace

// ---------------------------------------------------------------- config resolution

ResolvedConfig resolve_config(const ShapeMap& shapes, const std::string& source_name,
                              const std::map<std::string, std::string>& md, const std::string& preset_name,
                              const std::string& flags, const std::vector<std::string>& sets) {
  ResolvedConfig r;
  ModelConfig& mc = r.config;
  bool inferred = false;
  InferredConfig inf;
  std::string fits;  // what the validation error names
  if (!preset_name.empty()) {
    const Preset* p = find_preset(preset_name);
    if (!p) throw Error("unknown preset '" + preset_name + "' (known: " + preset_names() + ")");
    mc = p->config();
    r.preset = p->name;
    r.origin = "preset " + p->name + " (from --preset)";
    fits = "preset " + p->name;
  } else if (md.count("format") && md.at("format") == kFormatName && md.count("config")) {
    try {
      mc.arch = md.count("arch") ? md.at("arch") : "adm";
      mc.adm = adm_config_from_json(nlohmann::json::parse(md.at("config")));
      if (md.count("schedule")) mc.schedule = schedule_from_json(nlohmann::json::parse(md.at("schedule")));
    } catch (const nlohmann::json::exception&) {
      throw Error("the input's reddiff metadata is malformed");
    }
    if (md.count("preset")) r.preset = md.at("preset");
    r.origin = "the input model file's own metadata";
    fits = "the config in the input's metadata";
  } else {
    auto matches = matching_presets(shapes);
    if (!matches.empty()) {
      const Preset* chosen = nullptr;
      for (const Preset* m : matches)
        for (const auto& f : m->files)
          if (!chosen && f == source_name) chosen = m;
      if (!chosen) {
        for (const Preset* m : matches)
          if (!same_network(m->config(), matches[0]->config())) {
            std::string names;
            for (const Preset* x : matches) names += (names.empty() ? "" : ", ") + x->name;
            throw Error("the tensor shapes fit several presets that differ in settings the weights cannot tell (" +
                        names + "); choose one with --preset");
          }
        chosen = matches[0];
      }
      mc = chosen->config();
      r.preset = chosen->name;
      r.origin = "preset " + chosen->name + " (picked automatically: the tensor shapes fit it";
      std::string also;
      for (const Preset* m : matches)
        if (m != chosen) also += (also.empty() ? "" : ", ") + m->name;
      if (!also.empty()) r.origin += "; they also fit " + also + ", same network";
      r.origin += ")";
      fits = "preset " + chosen->name;
    } else {
      inf = infer_adm_config(shapes);
      mc = guided_diffusion_defaults();
      AdmConfig& a = mc.adm;
      a.in_channels = inf.cfg.in_channels;
      a.out_channels = inf.cfg.out_channels;
      a.model_channels = inf.cfg.model_channels;
      a.num_res_blocks = inf.cfg.num_res_blocks;
      a.channel_mult = inf.cfg.channel_mult;
      a.num_classes = inf.cfg.num_classes;
      a.use_scale_shift_norm = inf.cfg.use_scale_shift_norm;
      a.resblock_updown = inf.cfg.resblock_updown;
      a.conv_resample = inf.cfg.conv_resample;
      a.learn_sigma = inf.cfg.learn_sigma;
      inferred = true;
      r.origin = "inferred from the tensor shapes";
      fits = "the configuration";
    }
  }
  std::set<std::string> given;
  if (!flags.empty()) apply_flags(mc, flags, &given);
  for (const auto& s : sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) throw Error("--set: expected key=value, got '" + s + "'");
    std::string key = s.substr(0, eq), value = s.substr(eq + 1);
    if (!set_flag(mc, key, value))
      throw Error("--set: unknown setting '" + key +
                  "' (use guided-diffusion's flag names, e.g. num_head_channels, image_size)");
    given.insert(key);
  }
  if (!given.empty())
    r.origin +=
        ", with " + std::to_string(given.size()) + " setting" + (given.size() == 1 ? "" : "s") + " from --set/--flags";
  if (inferred) {
    std::string what = "model_channels=" + std::to_string(inf.cfg.model_channels) +
                       " channel_mult=" + join_mult(inf.cfg.channel_mult) +
                       " num_res_blocks=" + std::to_string(inf.cfg.num_res_blocks) +
                       " attention at downsample factors " +
                       (inf.attention_ds.empty() ? "none" : join_ints(inf.attention_ds));
    if (!given.count("image_size") || !(given.count("num_heads") || given.count("num_head_channels")))
      throw Error(
          "the tensor shapes fit no built-in preset and the weights cannot tell the image size or the attention "
          "head split; give them, e.g. --set image_size=256 num_head_channels=64 (shapes say: " +
          what + ")");
    if (!given.count("attention_resolutions")) {
      for (int d : inf.attention_ds)
        if (mc.adm.image_size % d)
          throw Error("image_size " + std::to_string(mc.adm.image_size) +
                      " is not a multiple of the attention downsample factor " + std::to_string(d));
      mc.adm.attention_resolutions = attention_resolutions_for(mc.adm.image_size, inf.attention_ds);
    }
  }
  mc.adm.validate();
  std::string diff = compare_with_config(shapes, mc.adm);
  if (!diff.empty()) throw Error("the checkpoint's tensors do not fit " + fits + ": " + diff);
  return r;
}

// ---------------------------------------------------------------- conversion

DType check_tensor_readable(Checkpoint& ckpt, const std::string& name, const pickle::TensorRef& t) {
  const pickle::StorageRef& s = *t.storage;
  DType src;
  if (!pickle::storage_float_dtype(s.type, &src))
    throw Error("tensor '" + printable(name) + "' is " + pickle::storage_type_name(s.type) +
                "; only floating-point weights (f64, f32, f16, bf16) can be converted");
  if (!t.contiguous())
    throw Error("tensor '" + printable(name) + "' has non-contiguous strides " + shape_string(t.stride) +
                " for shape " + shape_string(t.shape) +
                " (a transposed or sliced view?); re-save it with .contiguous()");
  int64_t ext = t.extent();
  if (ext > 0 && (t.offset > s.numel || ext > s.numel - t.offset))
    throw Error("tensor '" + printable(name) + "' needs elements " + std::to_string(t.offset) + ".." +
                std::to_string(t.offset + ext) + " of storage '" + printable(s.key) + "', which holds only " +
                std::to_string(s.numel) + " (storage shorter than its tensors; the file is damaged)");
  if (ext > 0) ckpt.check_storage(s, name);
  return src;
}

void read_tensor(Checkpoint& ckpt, const std::string& name, const pickle::TensorRef& t, DType src, void* dst,
                 DType dst_type) {
  const pickle::StorageRef& s = *t.storage;
  uint64_t esz = pickle::storage_elem_size(s.type);
  uint64_t n = uint64_t(t.numel());
  uint64_t off = uint64_t(s.base + t.offset) * esz;
  if (n == 0) return;
  if (src == dst_type) {
    ckpt.read(s, off, n * esz, dst);
  } else {
    std::vector<uint8_t> tmp(size_t(n * esz));
    ckpt.read(s, off, n * esz, tmp.data());
    convert_elements(tmp.data(), src, dst, dst_type, size_t(n));
  }
  if (!all_finite(dst, dst_type, n))
    throw Error("tensor '" + printable(name) + "' holds NaN or infinite values (a damaged or diverged checkpoint)");
}

ConvertResult convert_checkpoint(const ConvertOptions& o, std::ostream* log) {
  ConvertResult res;
  DType forced = DType::F32;
  bool force_dtype = !o.dtype.empty();
  if (force_dtype && (!parse_dtype(o.dtype, &forced) || forced == DType::F64))
    throw Error("--dtype: expected f32, f16 or bf16, got '" + o.dtype + "'");
  struct stat si, so;
  if (::stat(o.input.c_str(), &si) == 0 && ::stat(o.output.c_str(), &so) == 0 && si.st_dev == so.st_dev &&
      si.st_ino == so.st_ino)
    throw Error(o.output + ": the output would overwrite the input");

  auto ckpt = open_checkpoint(o.input);
  if (log)
    *log << "reading " << o.input << ": " << ckpt->format() << " (" << ckpt->detail() << "), "
         << human_bytes(ckpt->file_size()) << "\n";
  StateDict sd = select_state_dict(ckpt->root(), ckpt->objects(), o.key);
  res.state_dict_note = sd.note;
  if (log) *log << "using " << sd.note << "\n";

  ShapeMap shapes;
  std::map<std::string, const pickle::TensorRef*> refs;
  for (const auto& t : sd.tensors) {
    shapes[t.name] = t.ref->shape;
    refs[t.name] = t.ref;
  }
  ResolvedConfig rc = resolve_config(shapes, basename_of(o.input), ckpt->metadata(), o.preset, o.flags, o.sets);
  res.config = rc.config;
  res.preset = rc.preset;
  res.config_origin = rc.origin;
  if (log) *log << "config: " << rc.origin << "\n";

  // Every tensor the model needs: floating point, contiguous, inside its storage, storage present in the file.
  struct Item {
    std::string name;
    const pickle::TensorRef* ref;
    DType src, dst;
  };
  std::vector<Item> items;
  std::set<DType> out_types;
  uint64_t total_bytes = 0;
  for (const auto& spec : expected_tensors(rc.config.adm)) {
    const pickle::TensorRef* t = refs.at(spec.name);
    const DType src = check_tensor_readable(*ckpt, spec.name, *t);
    DType dst = force_dtype ? forced : src;
    out_types.insert(dst);
    items.push_back({spec.name, t, src, dst});
    res.parameters += uint64_t(t->numel());
    total_bytes += uint64_t(t->numel()) * dtype_size(dst);
  }
  res.tensors = items.size();
  res.dtype = out_types.size() == 1 ? dtype_name(*out_types.begin()) : "mixed";

  bool show = o.progress && ckpt->file_size() >= (uint64_t(64) << 20);
  {
    ProgressBar bar("hashing", ckpt->file_size(), show);
    res.source_sha256 = sha256_file(o.input, [&](uint64_t d) { bar.update(d); });
  }
  if (log)
    *log << "writing " << o.output << ": " << items.size() << " tensors, " << with_commas(res.parameters)
         << " parameters, " << res.dtype << ", " << human_bytes(total_bytes) << "\n";

  SafeTensorsWriter w(o.output);
  w.set_metadata("format", kFormatName);
  w.set_metadata("format_version", kFormatVersion);
  w.set_metadata("arch", rc.config.arch);
  w.set_metadata("config", to_json(rc.config.adm).dump());
  w.set_metadata("schedule", to_json(rc.config.schedule).dump());
  w.set_metadata("learn_sigma", rc.config.adm.learn_sigma ? "true" : "false");
  w.set_metadata("source_file", basename_of(o.input));
  w.set_metadata("source_sha256", res.source_sha256);
  w.set_metadata("dtype", res.dtype);
  if (!rc.preset.empty()) w.set_metadata("preset", rc.preset);
  w.set_metadata("source_state_dict", sd.path);

  ProgressBar bar("converting", total_bytes, show);
  uint64_t written = 0;
  Checkpoint* ck = ckpt.get();
  for (const auto& it : items) {
    w.add(it.name, it.dst, it.ref->shape, [ck, it, &bar, &written](void* dst) {
      read_tensor(*ck, it.name, *it.ref, it.src, dst, it.dst);
      written += uint64_t(it.ref->numel()) * dtype_size(it.dst);
      bar.update(written);
    });
  }
  {
    TmpGuard guard(o.output);
    w.finish();
  }
  bar.done();
  struct stat st;
  if (::stat(o.output.c_str(), &st) == 0) res.output_bytes = uint64_t(st.st_size);
  if (log) *log << "wrote " << o.output << " (" << human_bytes(res.output_bytes) << ")\n";
  return res;
}

// ---------------------------------------------------------------- info

std::string describe_model(const std::string& path) {
  auto f = SafeTensorsFile::open(path);
  const auto& md = f->metadata();
  auto get = [&](const char* k) { return md.count(k) ? md.at(k) : std::string(); };
  if (get("format") != kFormatName)
    throw Error(path +
                ": not a reddiff model file (no format=reddiff metadata); convert checkpoints with 'reddiff convert'");
  if (get("format_version") != kFormatVersion)
    throw Error(path + ": unsupported reddiff model file version '" + printable(get("format_version")) + "'");
  if (get("arch") != "adm") throw Error(path + ": unsupported architecture '" + printable(get("arch")) + "'");
  AdmConfig cfg;
  Schedule sched;
  try {
    cfg = adm_config_from_json(nlohmann::json::parse(get("config")));
    sched = schedule_from_json(nlohmann::json::parse(get("schedule")));
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": malformed config or schedule metadata");
  }
  cfg.validate();
  ShapeMap shapes;
  uint64_t params = 0;
  std::set<std::string> types;
  for (const auto& t : f->tensors()) {
    shapes[t.name] = t.shape;
    params += uint64_t(t.numel());
    types.insert(dtype_name(t.dtype));
  }
  std::string diff = compare_with_config(shapes, cfg);
  if (!diff.empty()) throw Error(path + ": tensors do not match the config in its metadata: " + diff);
  std::string dtypes;
  for (const auto& t : types) dtypes += (dtypes.empty() ? "" : ", ") + t;
  double flops = forward_flops(cfg, cfg.image_size, cfg.image_size);
  char fl[64];
  std::snprintf(fl, sizeof fl, "%.2f GFLOP", flops / 1e9);
  std::ostringstream s;
  auto row = [&](const char* k, const std::string& v) {
    s << "  " << k << std::string(16 - std::strlen(k), ' ') << v << "\n";
  };
  s << path << "\n";
  row("file size", human_bytes(f->file_size()) + " (" + with_commas(f->file_size()) + " bytes)");
  row("format", std::string(kFormatName) + " model file, version " + kFormatVersion);
  row("architecture", "adm (guided-diffusion UNet)");
  if (!get("preset").empty()) row("preset", printable(get("preset")));
  if (!get("source_file").empty())
    row("source", printable(get("source_file"), 200) + " (sha256 " + printable(get("source_sha256")) + ")");
  row("dtype", dtypes);
  row("parameters", with_commas(params) + " in " + std::to_string(f->tensors().size()) + " tensors");
  row("native size", std::to_string(cfg.image_size) + "x" + std::to_string(cfg.image_size) + " (H and W multiples of " +
                         std::to_string(cfg.size_multiple()) + ")");
  row("FLOPs/forward",
      std::string(fl) + " at " + std::to_string(cfg.image_size) + "x" + std::to_string(cfg.image_size) + ", batch 1");
  row("schedule", sched.kind + ", T=" + std::to_string(sched.num_timesteps));
  row("learn_sigma", cfg.learn_sigma ? "true" : "false");
  s << "  config:\n";
  nlohmann::json j = to_json(cfg);
  for (auto it = j.begin(); it != j.end(); ++it) s << "    " << it.key() << ": " << it.value().dump() << "\n";
  return s.str();
}

}  // namespace reddiff
