// The solver options' table and everything made from it: registration with the task's defaults, reading
// with the per-algorithm checks, the presets as --help and --json show them, and the algorithms' help.
#include "tool/solver_options.h"

#include <cstdio>
#include <functional>
#include <map>
#include <sstream>
#include <type_traits>
#include <variant>
#include <vector>

#include "base/error.h"
#include "tool/operator_options.h"

// The table's rows name the fields they set and leave the trailing ones (default_text, not_used, group) at
// their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace reddiff {
namespace {

// ------------------------------------------------------------------------------------------- the table

using Value = std::variant<double, int64_t, std::string, bool>;

// Where an option's value lives in SolverSettings, for one algorithm.
struct Field {
  std::function<Value(const SolverSettings&)> get;
  std::function<void(SolverSettings&, const Value&)> set;
};

template <class Opts, class T>
Field field(Opts SolverSettings::*opts, T Opts::*member) {
  Field f;
  f.get = [=](const SolverSettings& s) -> Value {
    const T& v = (s.*opts).*member;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>)
      return v;
    else if constexpr (std::is_integral_v<T>)
      return int64_t(v);
    else
      return double(v);
  };
  f.set = [=](SolverSettings& s, const Value& v) {
    T& dst = (s.*opts).*member;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>)
      dst = std::get<T>(v);
    else if constexpr (std::is_integral_v<T>)
      dst = T(std::get<int64_t>(v));
    else
      dst = T(std::get<double>(v));
  };
  return f;
}

enum class Kind { Number, Integer, Text, Flag };

struct Use {
  Algorithm algo;
  std::string meaning;  // what the option is to this algorithm (--help), when the option has no shared help
  Field field;
};

struct SolverOption {
  std::string name, arg;  // --name ARG
  Kind kind;
  std::string help;          // shared by every algorithm that reads it; empty: each Use's meaning
  std::vector<Use> uses;     // the algorithms that read it
  bool preset = false;       // part of a task's preset (--help's preset lines, --json's "preset")
  int64_t lo = 0, hi = 0;    // Integer: the accepted range
  std::string default_text;  // shown instead of the preset's value ("the model's T, 1000")
  bool show_default = true;
  // Why an algorithm that does not read it refuses it, where "--algo X does not use it" says too little.
  std::map<Algorithm, std::string> not_used;
  std::string group = "Solver";
};

const std::vector<SolverOption>& solver_options() {
  using A = Algorithm;
  using S = SolverSettings;
  static const std::vector<SolverOption> t = [] {
    std::vector<SolverOption> v;
    v.push_back({"steps",
                 "N",
                 Kind::Integer,
                 "solver steps, one network evaluation each",
                 {{A::RedDiff, "", field(&S::reddiff, &RedDiffOptions::steps)},
                  {A::Dps, "", field(&S::dps, &DpsOptions::steps)},
                  {A::Pigdm, "", field(&S::pigdm, &PigdmOptions::steps)},
                  {A::Ddrm, "", field(&S::ddrm, &DdrmOptions::steps)}},
                 true,
                 1,
                 100000});
    v.push_back({"zeta",
                 "Z",
                 Kind::Number,
                 "",
                 {{A::Dps, "step size of the measurement-norm gradient", field(&S::dps, &DpsOptions::zeta)},
                  {A::Pigdm, "guidance weight", field(&S::pigdm, &PigdmOptions::weight)}},
                 true});
    v.back().not_used = {{A::RedDiff, "RED-diff uses --lr and --lambda"},
                         {A::Ddrm, "--algo ddrm has no guidance step"}};
    v.push_back({"eta",
                 "E",
                 Kind::Number,
                 "",
                 {{A::Pigdm, "DDIM noise eta in [0, 1]", field(&S::pigdm, &PigdmOptions::eta)},
                  {A::Ddrm, "eta in [0, 1]", field(&S::ddrm, &DdrmOptions::eta)}},
                 true});
    v.back().not_used = {{A::RedDiff, "RED-diff uses --lr and --lambda"},
                         {A::Dps, "--algo dps samples with DDPM steps"}};
    v.push_back(
        {"eta-b",
         "E",
         Kind::Number,
         "",
         {{A::Ddrm, "eta_b in [0, 1], the noise of the measured coordinates", field(&S::ddrm, &DdrmOptions::eta_b)}},
         true});
    v.push_back({"lr",
                 "LR",
                 Kind::Number,
                 "",
                 {{A::RedDiff, "Adam learning rate of mu", field(&S::reddiff, &RedDiffOptions::lr)}},
                 true});
    v.push_back({"lambda",
                 "L",
                 Kind::Number,
                 "",
                 {{A::RedDiff, "weight of the diffusion prior against the data term",
                   field(&S::reddiff, &RedDiffOptions::lambda)}},
                 true});
    v.push_back({"weighting",
                 "W",
                 Kind::Text,
                 "",
                 {{A::RedDiff,
                   "prior weight over time, of s = sqrt((1-abar_t)/abar_t): linear (s), sqrt, square, log (log(1+s)), "
                   "clip (min(s,1)), power2over3, const",
                   field(&S::reddiff, &RedDiffOptions::weighting)}},
                 true});
    v.push_back({"sigma-x0",
                 "S",
                 Kind::Number,
                 "",
                 {{A::RedDiff, "std of the noise added to mu in the data term (0: none)",
                   field(&S::reddiff, &RedDiffOptions::sigma_x0)}}});
    v.push_back({"init",
                 "I",
                 Kind::Text,
                 "",
                 {{A::RedDiff, "start: pinv (A^+ y), zeros or noise", field(&S::reddiff, &RedDiffOptions::init)}}});
    v.push_back({"t-start",
                 "T",
                 Kind::Integer,
                 "",
                 {{A::RedDiff, "timesteps run over [t-end, t-start)", field(&S::reddiff, &RedDiffOptions::t_start)}},
                 false,
                 1,
                 1000000,
                 "the model's T, 1000"});
    v.push_back({"t-end",
                 "T",
                 Kind::Integer,
                 "",
                 {{A::RedDiff, "smallest timestep", field(&S::reddiff, &RedDiffOptions::t_end)}},
                 false,
                 0,
                 1000000});
    Field no_graph;
    no_graph.get = [](const S& s) -> Value { return !s.reddiff.graph; };
    no_graph.set = [](S& s, const Value& x) { s.reddiff.graph = !std::get<bool>(x); };
    v.push_back({"no-graph",
                 "",
                 Kind::Flag,
                 "",
                 {{A::RedDiff, "CUDA: issue every step launch by launch instead of replaying one captured CUDA graph",
                   no_graph}}});
    v.push_back({"class",
                 "K",
                 Kind::Integer,
                 "class label, for class-conditional models",
                 {{A::RedDiff, "", field(&S::reddiff, &RedDiffOptions::class_label)},
                  {A::Dps, "", field(&S::dps, &DpsOptions::class_label)},
                  {A::Pigdm, "", field(&S::pigdm, &PigdmOptions::class_label)},
                  {A::Ddrm, "", field(&S::ddrm, &DdrmOptions::class_label)}},
                 false,
                 0,
                 1000000});
    v.back().show_default = false;
    v.back().group = "Model and device";
    return v;
  }();
  return t;
}

const Use* use_of(const SolverOption& o, Algorithm a) {
  for (const auto& u : o.uses)
    if (u.algo == a) return &u;
  return nullptr;
}

// ------------------------------------------------------------------------------------------- values

std::string text_of(const Value& v) {
  if (const auto* d = std::get_if<double>(&v)) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", *d);
    return b;
  }
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return std::get<bool>(v) ? "on" : "off";
}

nlohmann::json json_of(const Value& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

Value read_value(const cxxopts::ParseResult& r, const SolverOption& o) {
  const char* name = o.name.c_str();
  switch (o.kind) {
    case Kind::Number:
      return option_number(r, name);
    case Kind::Integer:
      return option_integer(r, name, o.lo, o.hi);
    case Kind::Text:
      return r[name].as<std::string>();
    case Kind::Flag:
      return true;
  }
  return false;
}

// ------------------------------------------------------------------------------------------- help

// "(default 0.5)", "(default: 100 for reddiff, 1000 for dps, ...)" or "(default: the model's T, 1000)".
// An option with a default_text (t-start) is part of a task's preset only where the task sets it; its
// value is -1 ("unset": the default_text applies) elsewhere.
bool set_by_preset(const SolverOption& o, const Use& u, const TaskSpec& task) {
  if (o.preset) return true;
  const Value v = u.field.get(task.preset);
  return !o.default_text.empty() && std::holds_alternative<int64_t>(v) && std::get<int64_t>(v) != -1;
}

std::string default_of(const SolverOption& o, const TaskSpec& task) {
  if (!o.show_default || o.kind == Kind::Flag) return "";
  if (!o.default_text.empty() && !set_by_preset(o, o.uses.front(), task)) return " (default: " + o.default_text + ")";
  std::string each;
  bool same = true;
  for (const auto& u : o.uses) {
    const std::string v = text_of(u.field.get(task.preset));
    same = same && v == text_of(o.uses.front().field.get(task.preset));
    each += (each.empty() ? "" : ", ") + v + " for " + algorithm_info(u.algo).name;
  }
  return same ? " (default " + text_of(o.uses.front().field.get(task.preset)) + ")" : " (default: " + each + ")";
}

std::string help_of(const SolverOption& o, const TaskSpec& task) {
  if (!o.help.empty()) return o.help + default_of(o, task);
  std::string h;
  for (const auto& u : o.uses) {
    SolverOption one = o;
    one.uses = {u};
    h += (h.empty() ? "" : "; ") + algorithm_info(u.algo).name + ": " + u.meaning + default_of(one, task);
  }
  return h;
}

// "--lr is a RED-diff option; --algo dps does not use it", "--zeta is for --algo dps or pigdm; ...".
std::string not_used_error(const SolverOption& o, Algorithm a) {
  std::string who;
  for (size_t i = 0; i < o.uses.size(); ++i)
    who += (i == 0 ? "" : i + 1 == o.uses.size() ? " or " : ", ") + algorithm_info(o.uses[i].algo).name;
  std::string s =
      "--" + o.name +
      (o.uses.size() == 1 ? " is a " + algorithm_info(o.uses[0].algo).title + " option" : " is for --algo " + who);
  auto note = o.not_used.find(a);
  return s + "; " + (note != o.not_used.end() ? note->second : "--algo " + algorithm_info(a).name + " does not use it");
}

// What --help says about each algorithm besides its preset.
struct AlgorithmHelp {
  Algorithm algo;
  std::string text;                                                // lines after the first are indented by the caller
  std::function<std::string(const SolverSettings&)> preset_extra;  // appended to the preset line
  std::string notes;                                               // after the preset's source
};

const std::vector<AlgorithmHelp>& algorithm_help() {
  static const std::vector<AlgorithmHelp> h = {
      {Algorithm::RedDiff, "RED-diff (Mardani et al. 2024), the default: the preset above.", nullptr, ""},
      {Algorithm::Dps,
       "Diffusion Posterior Sampling (Chung et al. 2023): ancestral DDPM steps, each corrected by\n"
       "-zeta * grad ||y - A(x0_hat)|| through the network (per image).",
       nullptr, ""},
      {Algorithm::Pigdm,
       "Pseudoinverse-guided diffusion (Song et al. 2023), as RED-diff's algos/pgdm.py: DDIM steps with\n"
       "the A+ guidance, weight zeta.",
       [](const SolverSettings& s) {
         return s.pigdm.contrast != 0 ? ", contrast weight " + std::to_string(int(s.pigdm.contrast)) : std::string();
       },
       ""},
      {Algorithm::Ddrm,
       "Denoising Diffusion Restoration Models (Kawar et al. 2022), as bahjat-kawar/ddrm: DDIM-like steps\n"
       "on the operator's SVD, one network evaluation each (no VJP), noise std sigma_0 = 2 * --sigma-y.",
       nullptr,
       "Tasks: denoise, inpaint (any mask), colorize, sr (pool, bicubic), deblur (--blur gaussian or\n"
       "uniform); not phase-retrieval or hdr (nonlinear), motion or file blurs, or --compose."},
  };
  return h;
}

std::string indented(const std::string& text, const std::string& indent) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out += indent + line + "\n";
  return out;
}

}  // namespace

// ------------------------------------------------------------------------------------------- public

void add_solver_options(cxxopts::Options& opts, const TaskSpec& task) {
  opts.add_options("Solver")("algo", "reddiff|dps|pigdm|ddrm; see Algorithms below",
                             cxxopts::value<std::string>()->default_value("reddiff"), "A");
  for (const auto& o : solver_options()) {
    if (o.kind == Kind::Flag)
      opts.add_options(o.group)(o.name, help_of(o, task));
    else
      opts.add_options(o.group)(o.name, help_of(o, task), cxxopts::value<std::string>(), o.arg);
  }
}

SolverChoice solver_choice_from(const cxxopts::ParseResult& r, const TaskSpec& task, uint64_t seed) {
  SolverChoice c;
  const std::string name = r["algo"].as<std::string>();
  if (!parse_algorithm(name, &c.algo)) {
    std::string all;
    for (const auto& a : algorithms()) all += (all.empty() ? "" : &a == &algorithms().back() ? " or " : ", ") + a.name;
    throw Error("--algo: unknown value '" + name + "' (expected " + all + ")");
  }
  for (const auto& o : solver_options())  // every option given must be one the algorithm reads
    if (r.count(o.name) && !use_of(o, c.algo)) throw Error(not_used_error(o, c.algo));
  c.settings = task.preset;
  for (const auto& o : solver_options())
    if (r.count(o.name)) use_of(o, c.algo)->field.set(c.settings, read_value(r, o));
  c.settings.set_seed(seed);
  validate(c.algo, c.settings);
  return c;
}

std::string preset_line(const TaskSpec& task, Algorithm a) {
  std::string s;
  for (const auto& o : solver_options()) {
    const Use* u = use_of(o, a);
    if (!u || !set_by_preset(o, *u, task)) continue;
    const std::string v = text_of(u->field.get(task.preset));
    s += (s.empty() ? "" : ", ") + (o.name == "steps" ? v + " steps" : o.name + " " + v);
  }
  for (const auto& h : algorithm_help())
    if (h.algo == a && h.preset_extra) s += h.preset_extra(task.preset);
  return s;
}

nlohmann::json preset_json(const TaskSpec& task, Algorithm a) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& o : solver_options()) {
    const Use* u = use_of(o, a);
    if (!u || !set_by_preset(o, *u, task)) continue;
    std::string key = o.name;
    for (char& ch : key)
      if (ch == '-') ch = '_';
    j[key] = json_of(u->field.get(task.preset));
  }
  auto src = task.preset_source.find(a);
  j["source"] = src != task.preset_source.end() ? src->second : "";
  return j;
}

std::string algorithms_help(const TaskSpec& task) {
  const std::string pad(11, ' ');
  std::ostringstream s;
  s << "Algorithms (--algo):\n";
  for (const auto& h : algorithm_help()) {
    const std::string& name = algorithm_info(h.algo).name;
    std::string first = h.text.substr(0, h.text.find('\n'));
    s << "  " << name << std::string(9 - name.size(), ' ') << first << "\n";
    if (first.size() < h.text.size()) s << indented(h.text.substr(first.size() + 1), pad);
    if (h.algo == Algorithm::RedDiff) continue;  // its preset is printed above
    std::string why;
    if (algorithm_supports(h.algo, task.operator_defaults(), &why))
      s << pad << "For " << task.name << ": " << preset_line(task, h.algo) << "\n";
    else
      s << pad << "Not for " << task.name << " (" << why << ").\n";
    s << pad << "(" << task.preset_source.at(h.algo) << ").\n";
    if (!h.notes.empty()) s << indented(h.notes, pad);
  }
  std::string guided, own;
  for (const auto& a : algorithms())
    if (a.guided) guided += (guided.empty() ? "" : " and ") + a.name;
  for (const auto& o : solver_options())
    if (o.uses.size() == 1 && o.uses[0].algo == Algorithm::RedDiff) own += (own.empty() ? "--" : " --") + o.name;
  s << "  " << guided << " back-propagate through the network every step (a forward pass and its VJP);\n"
    << "  " << own << " are RED-diff's only.\n";
  return s.str();
}

}  // namespace reddiff
