// reddiff TASK [options] IN OUT: restore images with RED-diff (or --algo dps|pigdm|ddrm), for TASK in inpaint, sr,
// deblur, colorize, denoise, phase-retrieval and hdr (one registered command per task, sharing everything below).
//
//   default mode  IN is the observation y (a photo with holes plus --mask, a small image, a blurred photo, ...);
//   --measure     IN is a clean image: y = A(IN) (+ noise) is made here and the result is scored against IN.
//
// IN may be one image, a folder or a .txt list (batch); OUT is then a folder. docs/usage.md ("Command line").
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/cpu/cpu_info.h"
#include "engine/device_buffer.h"
#include "engine/image_io.h"
#include "engine/input_limits.h"
#include "engine/metrics.h"
#include "engine/model.h"
#include "engine/network.h"
#include "engine/npy.h"
#include "operators/operator.h"
#include "operators/svd.h"
#include "solvers/ddrm_solver.h"
#include "solvers/dps_solver.h"
#include "solvers/pigdm_solver.h"
#include "solvers/reddiff_solver.h"
#include "tool/batch_io.h"
#include "tool/cli_common.h"
#include "tool/command.h"
#include "tool/operator_options.h"
#include "tool/progress_bar.h"
#include "tool/task_presets.h"
#include "tool/tile_options.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace reddiff {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ------------------------------------------------------------------------------------------------ help

const char* task_in_help(const std::string& task) {
  if (task == "inpaint")
    return "IN is the photo with holes (whatever is in the holes is ignored); --mask says where the holes are:\n"
           "  a mask file (white = keep, e.g. from `reddiff degrade --save-mask`) or box|random|half|freeform\n"
           "  drawn as `reddiff degrade` draws them (same --seed; the image id, see below). OUT has IN's size.";
  if (task == "sr")
    return "IN is the small image; OUT is --scale times larger (--sr-kernel: how IN was made from it).";
  if (task == "deblur")
    return "IN is the blurred photo; --blur names its blur: a kernel file (image or .npy, e.g. from\n"
           "  `reddiff degrade --save-kernel`) or gaussian|uniform|motion with their parameters.";
  if (task == "colorize") return "IN is a grey photo (a colour image is averaged to grey first); OUT is in colour.";
  if (task == "denoise") return "IN is the noisy photo.";
  if (task == "phase-retrieval")
    return "IN is the .npy of Fourier magnitudes written by `reddiff degrade phase-retrieval ... y.npy` (same\n"
           "  --oversample); the PNG that degrade writes is for viewing only. OUT is the image.";
  return "IN is the clipped photo y = clip(2x); OUT is x (half IN's brightness, highlights recovered).";
}

std::string epilog(const std::string& task) {
  const TaskPreset& p = task_preset(task);
  char preset[256];
  std::snprintf(preset, sizeof preset, "%d steps, lr %g, lambda %g, weighting %s", p.steps, p.lr, p.lambda,
                p.weighting.c_str());
  const AlgoPreset &dps = algo_preset("dps", task), &pigdm = algo_preset("pigdm", task), &ddrm = algo_preset("ddrm", task);
  char dps_line[128], pigdm_line[160];
  std::snprintf(dps_line, sizeof dps_line, "%d steps, zeta %g", dps.steps, dps.zeta);
  std::snprintf(pigdm_line, sizeof pigdm_line, "%d steps, zeta %g, eta %g%s", pigdm.steps, pigdm.zeta, pigdm.eta,
                pigdm.contrast != 0 ? (", contrast weight " + std::to_string(int(pigdm.contrast))).c_str() : "");
  OperatorOptions task_defaults;
  task_defaults.task = task;
  std::string ddrm_why;
  std::string ddrm_line;
  if (ddrm_supported(task_defaults, &ddrm_why)) {
    char b[128];
    std::snprintf(b, sizeof b, "For %s: %d steps, eta %g, eta-b %g", task.c_str(), ddrm.steps, ddrm.eta, ddrm.eta_b);
    ddrm_line = b;
  } else {
    ddrm_line = "Not for " + task + " (" + ddrm_why + ").";
  }
  std::ostringstream s;
  s << "\nDefault mode:\n  " << task_in_help(task) << "\n"
    << "--measure:\n  IN is a clean image; y = A(IN) plus noise (--sigma-y, --noise) is made here (--save-measurement\n"
       "  keeps it) and the result is scored against IN: PSNR and SSIM on [0, 1] (stderr, --json, --csv).\n"
       "\nPreset for " << task << ": " << preset << "\n  (" << p.source << ")\n"
    << "\nAlgorithms (--algo):\n"
       "  reddiff  RED-diff (Mardani et al. 2024), the default: the preset above.\n"
       "  dps      Diffusion Posterior Sampling (Chung et al. 2023): ancestral DDPM steps, each corrected by\n"
       "           -zeta * grad ||y - A(x0_hat)|| through the network (per image). For " << task << ": " << dps_line << "\n"
       "           (" << dps.source << ").\n"
       "  pigdm    Pseudoinverse-guided diffusion (Song et al. 2023), as RED-diff's algos/pgdm.py: DDIM steps with\n"
       "           the A+ guidance, weight zeta. For " << task << ": " << pigdm_line << "\n"
       "           (" << pigdm.source << ").\n"
       "  ddrm     Denoising Diffusion Restoration Models (Kawar et al. 2022), as bahjat-kawar/ddrm: DDIM-like steps\n"
       "           on the operator's SVD, one network evaluation each (no VJP), noise std sigma_0 = 2 * --sigma-y.\n"
       "           " << ddrm_line << "\n"
       "           (" << ddrm.source << ").\n"
       "           Tasks: denoise, inpaint (any mask), colorize, sr (pool, bicubic), deblur (--blur gaussian or\n"
       "           uniform); not phase-retrieval or hdr (nonlinear), motion or file blurs, or --compose.\n"
       "  dps and pigdm back-propagate through the network every step (a forward pass and its VJP);\n"
       "  --lr --lambda --weighting --sigma-x0 --init --t-start --t-end are RED-diff's only.\n"
    << "\nBatch: IN may be a folder (searched recursively for .png .jpg .jpeg .bmp .tga .gif .ppm .pgm .pnm, and\n"
       "  .npy measurements without --measure) or a .txt list of image paths (relative to the list's folder);\n"
       "  OUT is then a folder (created; sub-folders kept, names ending in .png). Images of one size are restored\n"
       "  --batch-size at a time. Existing outputs are skipped unless --overwrite, so a stopped run resumes. A bad\n"
       "  file is reported, listed in --csv with status 'error: ...', and the run goes on (exit status 3).\n"
       "\nLarge photos: the network runs on overlapping tiles of the model's native size (--tile auto, the default, for\n"
       "  images over 1.5x that size), --batch-size tiles at a time, blended with smooth weights; the grid shifts every\n"
       "  step. Memory for the network is that of one batch of tiles; the operators work on the whole image.\n"
       "\nImage ids: masks, kernels, measurement noise and the solver's noise of an image are drawn from (--seed,\n"
       "  id), id = 64-bit FNV-1a hash of the image's name relative to IN (its file name for a single image, or\n"
       "  --image-id), so a result does not depend on --batch-size, --shard or the other images of a batch.\n"
       "\nExit status: 0 done, 1 runtime failure, 2 bad input or option, 3 some images of a batch failed.\n"
       "\nExamples:\n";
  if (task == "inpaint")
    s << "  reddiff inpaint --mask hole.png photo.png restored.png\n"
         "  reddiff inpaint --measure --mask freeform --fraction 0.25 --json report.json clean.png restored.png\n";
  else if (task == "sr")
    s << "  reddiff sr --scale 4 small.png large.png\n";
  else if (task == "phase-retrieval")
    s << "  reddiff degrade phase-retrieval clean.png y.npy && reddiff phase-retrieval y.npy restored.png\n";
  else
    s << "  reddiff " << task << " in.png restored.png\n";
  s << "  reddiff " << task << " --measure --batch-size 4 --csv scores.csv --shard 0/8 dataset/ results/\n";
  return s.str();
}

cxxopts::Options make_options(const std::string& task) {
  const TaskPreset& p = task_preset(task);
  auto g = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  cxxopts::Options opts("reddiff " + task, "Restore images with RED-diff (or --algo dps|pigdm|ddrm): " + p.summary + ".");
  opts.custom_help("[options]");
  opts.positional_help("IN OUT");
  opts.add_options()
      ("in", "input image, folder or .txt list", cxxopts::value<std::string>())
      ("out", "output image (.png) or folder", cxxopts::value<std::string>())
      ("h,help", "show this help");
  opts.add_options("Model and device")
      ("model", "model file (.safetensors from reddiff convert); default: $REDDIFF_MODEL, else the bundled model",
       cxxopts::value<std::string>(), "FILE")
      ("device", "auto|cpu|cuda (auto: CUDA when a GPU is usable)", cxxopts::value<std::string>()->default_value("auto"), "D")
      ("precision", "network precision f32|f16|bf16 (f16: cuda; bf16: cuda, or a CPU with AVX512-BF16 or AMX)", cxxopts::value<std::string>()->default_value("f32"), "P")
      ("threads", "CPU threads (0: all cores)", cxxopts::value<std::string>()->default_value("0"), "N")
      ("batch-size", "images restored together (images of one size only)", cxxopts::value<std::string>()->default_value("1"), "N")
      ("class", "class label, for class-conditional models", cxxopts::value<std::string>(), "K");
  add_tile_options(opts);  // --tile, --tile-overlap (tool/tile_options.h)
  opts.add_options("Solver")
      ("algo", "reddiff|dps|pigdm|ddrm; see Algorithms below",
       cxxopts::value<std::string>()->default_value("reddiff"), "A")
      ("steps", "solver steps, one network evaluation each (default: " + std::to_string(p.steps) + " for reddiff, " +
                std::to_string(algo_preset("dps", task).steps) + " for dps, " + std::to_string(algo_preset("pigdm", task).steps) +
                " for pigdm, " + std::to_string(algo_preset("ddrm", task).steps) + " for ddrm)", cxxopts::value<std::string>(), "N")
      ("zeta", "dps: step size of the measurement-norm gradient (default " + g(algo_preset("dps", task).zeta) +
               "); pigdm: guidance weight (default " + g(algo_preset("pigdm", task).zeta) + ")", cxxopts::value<std::string>(), "Z")
      ("eta", "pigdm: DDIM noise eta in [0, 1] (default " + g(algo_preset("pigdm", task).eta) + "); ddrm: eta in [0, 1] (default " +
              g(algo_preset("ddrm", task).eta) + ")", cxxopts::value<std::string>(), "E")
      ("eta-b", "ddrm: eta_b in [0, 1], the noise of the measured coordinates (default " + g(algo_preset("ddrm", task).eta_b) + ")",
       cxxopts::value<std::string>(), "E")
      ("lr", "Adam learning rate of mu", cxxopts::value<std::string>()->default_value(g(p.lr)), "LR")
      ("lambda", "weight of the diffusion prior against the data term", cxxopts::value<std::string>()->default_value(g(p.lambda)), "L")
      ("weighting", "prior weight over time, of s = sqrt((1-abar_t)/abar_t): linear (s), sqrt, square, log (log(1+s)), "
                    "clip (min(s,1)), power2over3, const", cxxopts::value<std::string>()->default_value(p.weighting), "W")
      ("sigma-x0", "std of the noise added to mu in the data term (0: none)", cxxopts::value<std::string>()->default_value("0"), "S")
      ("init", "start: pinv (A^+ y), zeros or noise", cxxopts::value<std::string>()->default_value("pinv"), "I")
      ("t-start", "timesteps run over [t-end, t-start) (default: the model's T, 1000)", cxxopts::value<std::string>(), "T")
      ("t-end", "smallest timestep", cxxopts::value<std::string>()->default_value("0"), "T")
      ("no-graph", "CUDA: issue every step launch by launch instead of replaying one captured CUDA graph");
  add_operator_options(opts);  // group "Degradation"; its --seed also seeds the solver
  opts.add_options("Input and output")
      ("measure", "IN is a clean image: make y here and score the result against IN (PSNR, SSIM)")
      ("save-measurement", "with --measure: write y to FILE (.png or .npy; a folder in batch mode)", cxxopts::value<std::string>(), "FILE")
      ("image-id", "single image: its id (default: hash of its file name; `reddiff degrade` uses 0)", cxxopts::value<std::string>(), "N")
      ("json", "write a report (settings, model, device, timings, memory, metrics) to FILE", cxxopts::value<std::string>(), "FILE")
      ("csv", "write one row per image (file,status,psnr,ssim,seconds) to FILE", cxxopts::value<std::string>(), "FILE")
      ("save-every", "write mu every K steps as OUTSTEM_trajectory/step_NNNN.png (0: never)",
       cxxopts::value<std::string>()->default_value("0"), "K")
      ("shard", "restore only the images at sorted positions = I mod N (default: SLURM_ARRAY_TASK_ID / "
                "SLURM_ARRAY_TASK_COUNT when set)", cxxopts::value<std::string>(), "I/N")
      ("overwrite", "replace existing outputs (default: skip them)")
      ("q,quiet", "no progress bar and no per-image lines (errors are still printed)");
  add_max_pixels_option(opts, "Input and output", kRestoreBytesPerPixel);
  opts.parse_positional({"in", "out"});
  return opts;
}

int preset_steps(const std::string& algo, const std::string& task) {
  return algo == "reddiff" ? task_preset(task).steps : algo_preset(algo, task).steps;
}

// Numbers are taken as strings so that a bad value names its option (operators/operator.h).
int64_t opt_integer(const cxxopts::ParseResult& r, const char* name, int64_t lo, int64_t hi) {
  const std::string v = r[name].as<std::string>();
  const double d = option_number(r, name);
  if (d != std::floor(d)) throw Error(std::string("--") + name + ": '" + v + "' is not an integer");
  if (d < double(lo) || d > double(hi))
    throw Error(std::string("--") + name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + v);
  return int64_t(d);
}

// ------------------------------------------------------------------------------------------------ shapes

// The image shape x for an observation of shape y (default mode).
Shape4 x_shape_for(const OperatorOptions& o, int yc, int yh, int yw) {
  if (o.task == "sr") return {1, 3, yh * o.scale, yw * o.scale};
  if (o.task == "phase-retrieval") {
    auto side = [&](int Y) {  // Y = s + 2 round(oversample/8 * s)
      const int guess = int(double(Y) / (1.0 + o.oversample / 4.0));
      for (int s = std::max(1, guess - 3); s <= guess + 3; ++s)
        if (s + 2 * int(std::lround(o.oversample / 8.0 * s)) == Y) return s;
      throw Error("a " + std::to_string(Y) + "-pixel side is no phase-retrieval measurement with --oversample " +
                  std::to_string(o.oversample));
    };
    Shape4 x{1, 3, side(yh), side(yw)};
    auto cpu = make_cpu_backend();
    if (make_operator(o, x, {0}, *cpu)->measurement_shape() != Shape4{1, yc, yh, yw})
      throw Error("the " + std::to_string(yw) + "x" + std::to_string(yh) + " magnitudes do not fit --oversample " +
                  std::to_string(o.oversample));
    return x;
  }
  return {1, 3, yh, yw};
}

// ------------------------------------------------------------------------------------------------ run

struct Item {
  InputItem in;
  std::string status = "pending";  // ok | exists | error: ... | pending
  double psnr = std::nan(""), ssim = std::nan(""), seconds = -1;
  Shape4 xs;  // the restored image's shape (n = 1)
};

struct Batch {
  std::vector<size_t> items;
  Shape4 xs;  // one image
};

std::string stem_of(const std::string& out) {
  fs::path p(out);
  return (p.parent_path() / p.stem()).string();
}

// Pixels as written to the PNG ([-1, 1] -> 8 bits -> [0, 1]), for the metrics.
std::vector<float> as_written(const float* v, size_t n) {
  std::vector<float> q(n);
  for (size_t i = 0; i < n; ++i) {
    float p = (v[i] + 1.0f) * 0.5f * 255.0f;
    if (!(p > 0.0f)) p = 0.0f;
    if (p > 255.0f) p = 255.0f;
    q[i] = std::floor(p + 0.5f) / 255.0f;
  }
  return q;
}
std::vector<float> to_unit(const std::vector<float>& v) {
  std::vector<float> q(v.size());
  for (size_t i = 0; i < v.size(); ++i) q[i] = (v[i] + 1.0f) * 0.5f;
  return q;
}

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

void save_measurement(const std::string& path, const float* y, Shape4 ys, const std::string& task) {
  if (has_extension(path, ".npy")) {
    write_npy(path, {1, ys.c, ys.h, ys.w}, y);
  } else if (task == "phase-retrieval") {  // as `reddiff degrade`: log scale, for viewing
    const size_t n = size_t(ys.image_numel());
    std::vector<float> v(y, y + n);
    std::sort(v.begin(), v.end());
    const float white = std::max(v[size_t(0.995 * double(n - 1))], 1e-12f), den = std::log1p(white);
    for (size_t i = 0; i < n; ++i) v[i] = std::log1p(std::max(y[i], 0.0f)) / den;
    save_png(path, v.data(), ys.c, ys.h, ys.w, 0.0f, 1.0f);
  } else {
    save_png(path, y, ys.c, ys.h, ys.w);
  }
}

json operator_json(const OperatorOptions& o) {
  return {{"task", o.task}, {"mask", o.mask}, {"box_size", o.box_size}, {"fraction", o.fraction}, {"side", o.side},
          {"invert", o.invert}, {"random_position", o.random_position}, {"scale", o.scale}, {"sr_kernel", o.sr_kernel},
          {"blur", o.blur}, {"blur_sigma", o.blur_sigma}, {"blur_size", o.blur_size},
          {"motion_intensity", o.motion_intensity}, {"wiener_reg", o.wiener_reg}, {"oversample", o.oversample},
          {"sigma_y", o.sigma_y}, {"noise", o.noise}, {"seed", o.seed}};
}

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// The directory `dir` exists or can be made: its first existing ancestor is a writable folder.
void check_creatable_directory(const std::string& dir, const std::string& what) {
  fs::path p = fs::absolute(fs::path(dir)).lexically_normal();
  while (!p.empty() && !fs::exists(p) && p != p.parent_path()) p = p.parent_path();
  if (!is_directory(p.string())) throw Error("cannot write " + what + ": '" + p.string() + "' is not a folder");
  check_writable_directory(p.string(), what);
}

int run_restore(const std::string& task, int argc, char** argv) {
  const auto t_start = Clock::now();
  cxxopts::Options opts = make_options(task);
  std::optional<cxxopts::ParseResult> parsed;
  try {
    parsed.emplace(opts.parse(argc, argv));
  } catch (const cxxopts::exceptions::exception& e) {
    throw Error(std::string(e.what()) + " (see reddiff " + task + " --help)");
  }
  const cxxopts::ParseResult& r = *parsed;
  if (r.count("help")) {
    std::printf("%s%s", opts.help({"", "Model and device", "Solver", "Degradation", "Input and output"}).c_str(),
                epilog(task).c_str());
    return 0;
  }
  if (!r.unmatched().empty()) throw Error("unexpected argument '" + r.unmatched().front() + "' (see reddiff " + task + " --help)");
  if (!r.count("in") || !r.count("out")) throw Error("missing IN or OUT (see reddiff " + task + " --help)");
  const std::string in = r["in"].as<std::string>(), out_arg = r["out"].as<std::string>();
  const bool quiet = r.count("quiet") > 0, measure = r.count("measure") > 0, overwrite = r.count("overwrite") > 0;
  const std::string prefix = "reddiff " + task + ": ";

  // ---- settings (all validated before anything is read or written)
  apply_max_pixels(r, kRestoreBytesPerPixel);
  const OperatorOptions oo = operator_options_from(r, task);
  const TaskPreset& preset = task_preset(task);
  const std::string algo = r["algo"].as<std::string>();
  {
    const auto& all = restore_algorithms();
    if (std::find(all.begin(), all.end(), algo) == all.end())
      throw Error("--algo: unknown value '" + algo + "' (expected reddiff, dps, pigdm or ddrm)");
    if (algo != "reddiff")
      for (const char* o : {"lr", "lambda", "weighting", "sigma-x0", "init", "t-start", "t-end"})
        if (r.count(o)) throw Error(std::string("--") + o + " is a RED-diff option; --algo " + algo + " does not use it");
    if (algo == "reddiff") {
      if (r.count("zeta")) throw Error("--zeta is for --algo dps or pigdm; RED-diff uses --lr and --lambda");
      if (r.count("eta")) throw Error("--eta is for --algo pigdm or ddrm; RED-diff uses --lr and --lambda");
    }
    if (algo == "dps" && r.count("eta")) throw Error("--eta is for --algo pigdm or ddrm; --algo dps samples with DDPM steps");
    if (algo == "ddrm" && r.count("zeta")) throw Error("--zeta is for --algo dps or pigdm; --algo ddrm has no guidance step");
    if (algo != "ddrm" && r.count("eta-b")) throw Error("--eta-b is a DDRM option; --algo " + algo + " does not use it");
    std::string why;
    if (algo == "ddrm" && !ddrm_supported(oo, &why)) throw Error(why);
  }
  RedDiffOptions so;
  so.steps = r.count("steps") ? int(opt_integer(r, "steps", 1, 100000)) : preset_steps(algo, task);
  so.lr = option_number(r, "lr");
  so.lambda = option_number(r, "lambda");
  so.weighting = r["weighting"].as<std::string>();
  so.sigma_x0 = option_number(r, "sigma-x0");
  so.init = r["init"].as<std::string>();
  so.seed = oo.seed;
  so.t_end = int(opt_integer(r, "t-end", 0, 1000000));
  if (r.count("t-start")) so.t_start = int(opt_integer(r, "t-start", 1, 1000000));
  so.graph = !r.count("no-graph");
  if (r.count("class")) so.class_label = int(opt_integer(r, "class", 0, 1000000));
  validate(so);
  DpsOptions dpo;
  PigdmOptions pgo;
  DdrmOptions ddo;
  if (algo == "ddrm") {
    const AlgoPreset& ap = algo_preset(algo, task);
    ddo.steps = so.steps;
    ddo.eta = r.count("eta") ? option_number(r, "eta") : ap.eta;
    ddo.eta_b = r.count("eta-b") ? option_number(r, "eta-b") : ap.eta_b;
    ddo.seed = so.seed;
    ddo.class_label = so.class_label;
    validate(ddo);
  } else if (algo != "reddiff") {
    const AlgoPreset& ap = algo_preset(algo, task);
    const double zeta = r.count("zeta") ? option_number(r, "zeta") : ap.zeta;
    dpo.steps = pgo.steps = so.steps;
    dpo.zeta = pgo.weight = zeta;
    pgo.eta = r.count("eta") ? option_number(r, "eta") : ap.eta;
    pgo.contrast = ap.contrast;
    dpo.seed = pgo.seed = so.seed;
    dpo.class_label = pgo.class_label = so.class_label;
    if (algo == "dps") validate(dpo);
    else validate(pgo);
  }
  const int steps = so.steps;
  const std::string device = r["device"].as<std::string>();
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw Error("--device must be auto, cpu or cuda (got '" + device + "')");
  const DType precision = parse_precision(r["precision"].as<std::string>());
  const int threads = int(opt_integer(r, "threads", 0, 4096));
  const int batch_size = int(opt_integer(r, "batch-size", 1, 4096));
  const TileSettings tile_settings = tile_settings_from(r);
  const int save_every = int(opt_integer(r, "save-every", 0, 100000));
  if (r.count("save-measurement") && !measure)
    throw Error("--save-measurement needs --measure (without it, IN is the measurement)");

  // ---- inputs and outputs
  const InputKind kind = input_kind(in);
  const bool batch = kind != InputKind::File;
  std::vector<Item> items;
  Shard shard;
  std::string out_dir;
  if (!batch) {
    if (r.count("shard")) throw Error("--shard needs a folder or .txt list as IN");
    if (measure && has_extension(in, ".npy")) throw Error("--measure needs a clean image as IN, not a .npy array");
    InputItem it;
    it.path = in;
    it.rel = fs::path(in).filename().string();
    it.id = r.count("image-id") ? option_unsigned(r, "image-id") : image_id(it.rel);
    if (is_directory(out_arg) || (!out_arg.empty() && out_arg.back() == '/')) {
      it.out = (fs::path(out_arg) / fs::path(it.rel).replace_extension(".png")).string();
    } else {
      if (!has_extension(out_arg, ".png")) throw Error("OUT '" + out_arg + "' must end in .png (or be a folder)");
      it.out = out_arg;
    }
    items.push_back(Item{it, "pending", std::nan(""), std::nan(""), -1, {}});
  } else {
    if (r.count("image-id")) throw Error("--image-id is for a single image (a batch hashes each file name)");
    if (file_exists(out_arg)) throw Error("OUT '" + out_arg + "' is a file; with a folder or list as IN, OUT is a folder");
    out_dir = out_arg;
    shard = r.count("shard") ? parse_shard(r["shard"].as<std::string>()) : shard_from_env();
    auto all = list_inputs(in, kind, out_dir, !measure);
    if (all.empty()) throw Error("no images in '" + in + "'");
    for (auto& it : select_shard(all, shard)) items.push_back(Item{it, "pending", std::nan(""), std::nan(""), -1, {}});
    if (items.empty() && !quiet)
      std::fprintf(stderr, "%sshard %s of %zu images is empty\n", prefix.c_str(), shard.str().c_str(), all.size());
  }
  const std::string save_meas = r.count("save-measurement") ? r["save-measurement"].as<std::string>() : "";
  if (!save_meas.empty() && !batch && !has_extension(save_meas, ".png") && !has_extension(save_meas, ".npy"))
    throw Error("--save-measurement '" + save_meas + "' must end in .png or .npy");
  // Everything that will be written must be writable, before the model is loaded.
  check_creatable_directory(batch ? out_dir : parent_directory(items[0].in.out), "OUT");
  const std::string json_path = r.count("json") ? r["json"].as<std::string>() : "";
  const std::string csv_path = r.count("csv") ? r["csv"].as<std::string>() : "";
  if (!json_path.empty()) check_creatable_directory(parent_directory(json_path), "--json '" + json_path + "'");
  if (!csv_path.empty()) check_creatable_directory(parent_directory(csv_path), "--csv '" + csv_path + "'");
  if (!save_meas.empty()) check_creatable_directory(batch ? save_meas : parent_directory(save_meas), "--save-measurement");

  // ---- existing outputs
  std::vector<size_t> todo;
  for (size_t i = 0; i < items.size(); ++i) {
    Item& it = items[i];
    if (overwrite || !file_exists(it.in.out)) {
      todo.push_back(i);
      continue;
    }
    it.status = "exists";
    if (measure) {  // score the existing result, so that a resumed run's CSV is complete
      try {
        Image ref = load_image_rgb(it.in.path, true), got = load_image_rgb(it.in.out, true);
        if (ref.h == got.h && ref.w == got.w) {
          auto a = to_unit(got.data), b = to_unit(ref.data);
          it.psnr = psnr(a.data(), b.data(), a.size());
          it.ssim = ssim(a.data(), b.data(), 3, ref.h, ref.w);
        }
      } catch (const Error&) {
      }
    }
    if (!quiet) std::fprintf(stderr, "%s%s exists, skipped (--overwrite replaces it)\n", prefix.c_str(), it.in.out.c_str());
  }

  // ---- shapes and batches (headers only: nothing is decoded yet)
  auto fail = [&](Item& it, const std::string& why) {
    if (!batch) throw Error(why);
    it.status = "error: " + why;
  };
  std::vector<Batch> batches;
  {
    std::map<std::tuple<int, int, int>, size_t> open_batch;  // x size + stored channels (.npy) -> batch being filled
    for (size_t i : todo) {
      Item& it = items[i];
      int c = 0, h = 0, w = 0;
      std::string why;
      if (!probe_input(it.in.path, &c, &h, &w, &why)) {
        fail(it, why);
        continue;
      }
      try {
        if (measure) {
          it.xs = {1, 3, h, w};
        } else {
          const bool npy = has_extension(it.in.path, ".npy");
          if (task == "phase-retrieval" && !npy)
            throw Error("phase-retrieval restores from the .npy magnitudes that `reddiff degrade` writes (its PNG is "
                        "for viewing only), or use --measure with a clean image");
          const int yc = npy ? c : (task == "colorize" ? 1 : 3);
          it.xs = x_shape_for(oo, yc, h, w);
          if (it.xs.h != h || it.xs.w != w) check_pixels("the restored image of '" + it.in.path + "'", it.xs.h, it.xs.w);
          if (npy && c != (task == "colorize" ? 1 : 3))
            throw Error(it.in.path + ": " + std::to_string(c) + " channels, a " + task + " measurement has " +
                        std::to_string(task == "colorize" ? 1 : 3));
        }
      } catch (const Error& e) {
        fail(it, e.what());
        continue;
      }
      auto key = std::make_tuple(it.xs.h, it.xs.w, has_extension(it.in.path, ".npy") ? c : 0);
      auto f = open_batch.find(key);
      if (f == open_batch.end() || int(batches[f->second].items.size()) >= batch_size) {
        batches.push_back({{}, it.xs});
        open_batch[key] = batches.size() - 1;
      }
      batches[open_batch[key]].items.push_back(i);
    }
  }

  for (const Batch& b : batches) check_tile_fits(tile_settings, b.xs.h, b.xs.w);

  // ---- model, device, solver
  json report;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<Network> net;
  std::unique_ptr<RedDiffSolver> solver;
  std::unique_ptr<DpsSolver> dps_solver;
  std::unique_ptr<PigdmSolver> pigdm_solver;
  std::unique_ptr<DdrmSolver> ddrm_solver;
  std::string model_path = r.count("model") ? r["model"].as<std::string>() : default_model_path();
  double load_s = 0;
  if (!batches.empty()) {  // nothing to restore (all done or all unreadable): no model needed
    const auto t0 = Clock::now();
    model_path = model_path_option(r);
    backend = make_backend(device, threads);
    model = Model::load(model_path);
    const int nc = model->config.adm.num_classes;
    if (nc > 0 && so.class_label < 0) throw Error("the model is class-conditional: give --class K in [0, " + std::to_string(nc) + ")");
    if (nc > 0 && so.class_label >= nc) throw Error("--class " + std::to_string(so.class_label) + " is outside [0, " + std::to_string(nc) + ")");
    if (nc == 0 && so.class_label >= 0) throw Error("--class given but the model is unconditional");
    if (model->config.adm.in_channels != 3) throw Error("the model takes " + std::to_string(model->config.adm.in_channels) + " channels; images have 3");
    check_tile_model(tile_settings, model->config.adm);
    net = std::make_unique<Network>(*model, *backend, precision);
    if (algo == "dps") dps_solver = std::make_unique<DpsSolver>(*net, dpo);
    else if (algo == "pigdm") pigdm_solver = std::make_unique<PigdmSolver>(*net, pgo);
    else if (algo == "ddrm") ddrm_solver = std::make_unique<DdrmSolver>(*net, ddo);
    else solver = std::make_unique<RedDiffSolver>(*net, so);
    load_s = seconds_since(t0);
  }

  // ---- outputs
  if (batch) make_directories(out_dir);
  CsvWriter csv;
  if (batch && !csv_path.empty()) {
    make_directories(parent_directory(csv_path));
    csv.open(csv_path);
    for (const Item& it : items)
      if (it.status != "pending") csv.row(it.in.rel, it.status, it.psnr, it.ssim, it.seconds);
  }
  int failed = 0;
  for (const Item& it : items)
    if (it.status.rfind("error", 0) == 0) {  // printed even with --quiet
      std::fprintf(stderr, "%s%s: %s\n", prefix.c_str(), it.in.rel.c_str(), it.status.c_str());
      ++failed;
    }

  size_t n_todo = 0;
  for (const auto& b : batches) n_todo += b.items.size();
  RestoreTiling tiling(tile_settings, batch_size, oo.seed, so.class_label, quiet, prefix);
  StepProgressBar bar(int64_t(batches.size()) * steps, int(n_todo), !quiet);
  size_t max_solver_bytes = 0;
  double solve_s = 0;
  int64_t steps_run = 0;
  int done = 0, restored = 0;

  for (const Batch& b : batches) {
    const auto tb = Clock::now();
    // Decode the batch's images; one that fails is dropped from the batch.
    std::vector<size_t> members;
    std::vector<std::vector<float>> data;  // measure: clean x; default: observation (npy: y itself)
    for (size_t i : b.items) {
      Item& it = items[i];
      try {
        if (has_extension(it.in.path, ".npy")) {
          NpyArray a = read_npy(it.in.path);
          data.push_back(std::move(a.data));
        } else {
          Image img = load_image_rgb(it.in.path, quiet || (!measure && task == "colorize"));
          data.push_back(std::move(img.data));
        }
        members.push_back(i);
      } catch (const std::exception& e) {
        fail(it, e.what());
        ++failed;
        ++done;
        bar.note(prefix + it.in.rel + ": " + it.status);
        if (csv.is_open()) csv.row(it.in.rel, it.status, it.psnr, it.ssim, it.seconds);
        bar.images_done(1);
      }
    }
    if (members.empty()) continue;
    const int n = int(members.size());
    Shape4 xs = b.xs;
    xs.n = n;
    std::vector<uint64_t> ids;
    for (size_t i : members) ids.push_back(items[i].in.id);
    try {
      auto op = make_operator(oo, xs, ids, *backend);
      // DDRM works on the operator's SVD view: the same masks and kernels for the same (seed, ids).
      std::unique_ptr<SvdOperator> svd;
      if (ddrm_solver) svd = make_svd_operator(oo, xs, ids, *backend);
      const Shape4 ys = op->measurement_shape();
      const size_t nx1 = size_t(xs.image_numel()), ny1 = size_t(ys.image_numel());
      std::vector<float> x_host, y_host(size_t(ys.numel()));
      if (measure) {
        x_host.resize(size_t(xs.numel()));
        for (int k = 0; k < n; ++k) std::copy(data[size_t(k)].begin(), data[size_t(k)].end(), x_host.begin() + ptrdiff_t(k * nx1));
        apply_on_host(*op, x_host.data(), y_host.data());
        add_noise(y_host.data(), ys, oo, ids);
      } else if (task == "inpaint" || task == "colorize") {
        // y = A(observation): the holes are zeroed / the colours averaged, whatever the file holds.
        std::vector<float> obs(size_t(xs.numel()));
        for (int k = 0; k < n; ++k) {
          const auto& d = data[size_t(k)];
          if (d.size() == nx1)
            std::copy(d.begin(), d.end(), obs.begin() + ptrdiff_t(k * nx1));
          else if (d.size() == ny1)  // a 1-channel .npy for colorize
            for (int c = 0; c < xs.c; ++c) std::copy(d.begin(), d.end(), obs.begin() + ptrdiff_t(k * nx1 + c * ny1));
          else
            throw Error(items[members[size_t(k)]].in.rel + ": measurement of the wrong size");
        }
        apply_on_host(*op, obs.data(), y_host.data());
      } else {
        for (int k = 0; k < n; ++k) {
          const auto& d = data[size_t(k)];
          if (d.size() != ny1) throw Error(items[members[size_t(k)]].in.rel + ": measurement of the wrong size");
          std::copy(d.begin(), d.end(), y_host.begin() + ptrdiff_t(k * ny1));
        }
      }
      data.clear();

      Backend& be = *backend;
      DeviceBuffer dy(be, y_host.size() * 4), dmu(be, size_t(xs.numel()) * 4);
      be.upload(dy.get(), y_host.data(), y_host.size() * 4);
      const int out_c = model->config.adm.out_channels;
      const size_t nx = size_t(xs.numel());
      // Work buffers beside y and mu: RED-diff m, v, eps, x_t, data gradient (+ x0) and eps_hat; DPS x0, g, grad_x,
      // A(x0) and eps_hat with its cotangent; PiGDM the same and A+(y); DDRM U^T y, V^T x0, V^T eps, x0, eps, the
      // singular values (of the SVD view) and eps_hat.
      const bool guided = algo == "dps" || algo == "pigdm";
      const size_t work_images = algo == "reddiff" ? 5 + (so.sigma_x0 > 0 ? 1 : 0) : algo == "dps" ? 3 : algo == "pigdm" ? 4 : 6;
      const size_t solver_bytes = nx * 4 * work_images + size_t(n) * out_c * xs.h * xs.w * 4 * (guided ? 2 : 1) +
                                  (guided ? size_t(ys.numel()) * 4 : 0) +
                                  size_t(n) * 16 + dy.bytes() + dmu.bytes();
      max_solver_bytes = std::max(max_solver_bytes, solver_bytes);
      std::vector<float> mu_host(nx);
      auto on_step = [&](const SolverStep& st) {
        bar.step(st.index, st.steps);
        if (save_every > 0 && st.index % save_every == 0) {
          be.download(mu_host.data(), dmu.get(), nx * 4);
          for (int k = 0; k < n; ++k) {
            const std::string dir = stem_of(items[members[size_t(k)]].in.out) + "_trajectory";
            make_directories(dir);
            char name[32];
            std::snprintf(name, sizeof name, "/step_%04d.png", st.index);
            save_png(dir + name, mu_host.data() + size_t(k) * nx1, xs.c, xs.h, xs.w);
          }
        }
      };
      // Tiling (tool/tile_options.h): the solvers take the tiled network in place of the whole-image one.
      TiledNetwork* tiled = tiling.for_batch(*net, xs, ids);
      if (solver) solver->set_eps_function(tiled ? tiled->eps_function() : nullptr, tiled ? tiled->out_channels() : 0);
      if (ddrm_solver) ddrm_solver->set_eps_function(tiled ? tiled->eps_function() : nullptr, tiled ? tiled->out_channels() : 0);
      if (dps_solver) dps_solver = std::make_unique<DpsSolver>(*net, dpo);
      if (pigdm_solver) pigdm_solver = std::make_unique<PigdmSolver>(*net, pgo);
      if (dps_solver && tiled) dps_solver->set_network_functions(tiled->vjp_functions());
      if (pigdm_solver && tiled) pigdm_solver->set_network_functions(tiled->vjp_functions());
      const auto ts = Clock::now();
      if (dps_solver) dps_solver->solve(*op, dy.as<float>(), dmu.as<float>(), ids, on_step);
      else if (pigdm_solver) pigdm_solver->solve(*op, dy.as<float>(), dmu.as<float>(), ids, on_step);
      else if (ddrm_solver) ddrm_solver->solve(*svd, dy.as<float>(), dmu.as<float>(), ids, on_step);
      else solver->solve(*op, dy.as<float>(), dmu.as<float>(), ids, on_step);
      solve_s += seconds_since(ts);
      steps_run += steps;
      be.download(mu_host.data(), dmu.get(), nx * 4);

      const double per_image = seconds_since(tb) / n;
      for (int k = 0; k < n; ++k) {
        Item& it = items[members[size_t(k)]];
        const float* mu = mu_host.data() + size_t(k) * nx1;
        make_directories(parent_directory(it.in.out));
        save_png(it.in.out, mu, xs.c, xs.h, xs.w);
        if (!save_meas.empty()) {
          std::string mp = save_meas;
          if (batch) {
            fs::path rel(it.in.rel);
            rel.replace_extension(task == "phase-retrieval" ? ".npy" : ".png");
            mp = (fs::path(save_meas) / rel).string();
            make_directories(parent_directory(mp));
          }
          save_measurement(mp, y_host.data() + size_t(k) * ny1, Shape4{1, ys.c, ys.h, ys.w}, task);
        }
        if (measure) {
          auto got = as_written(mu, nx1);
          std::vector<float> ref(x_host.begin() + ptrdiff_t(k * nx1), x_host.begin() + ptrdiff_t((k + 1) * nx1));
          ref = to_unit(ref);
          it.psnr = psnr(got.data(), ref.data(), nx1);
          it.ssim = ssim(got.data(), ref.data(), xs.c, xs.h, xs.w);
        }
        it.seconds = per_image;
        it.status = "ok";
        ++restored;
        ++done;
        if (csv.is_open()) csv.row(it.in.rel, it.status, it.psnr, it.ssim, it.seconds);
        if (!quiet) {
          char line[512];
          if (measure && std::isfinite(it.ssim))
            std::snprintf(line, sizeof line, "PSNR %.2f dB  SSIM %.4f  ", it.psnr, it.ssim);
          else if (measure)  // below SSIM's 11x11 window
            std::snprintf(line, sizeof line, "PSNR %.2f dB  SSIM n/a  ", it.psnr);
          else
            line[0] = 0;
          std::string msg = batch ? "[" + std::to_string(done) + "/" + std::to_string(n_todo) + "] " + it.in.rel + " -> " + it.in.out
                                  : "wrote " + it.in.out + " (" + std::to_string(xs.w) + "x" + std::to_string(xs.h) + ")";
          char tail[64];
          std::snprintf(tail, sizeof tail, "%.1f s", per_image);
          bar.note(prefix + msg + "  " + line + tail);
        }
      }
      bar.images_done(n);
    } catch (const std::exception& e) {
      if (!batch || dynamic_cast<const WriteError*>(&e)) throw;  // a full disk fails every later image too
      const std::string why = dynamic_cast<const std::bad_alloc*>(&e) ? std::string("out of memory") : std::string(e.what());
      int settled = 0;
      for (size_t i : members) {
        Item& it = items[i];
        if (it.status == "ok") continue;  // written before the failure
        ++settled;
        it.status = "error: " + why;
        ++failed;
        ++done;
        bar.note(prefix + it.in.rel + ": " + it.status);
        if (csv.is_open()) csv.row(it.in.rel, it.status, it.psnr, it.ssim, it.seconds);
      }
      bar.images_done(settled);
    }
  }
  bar.finish();
  csv.close();

  // ---- summary, CSV (single image), JSON
  double psnr_sum = 0, ssim_sum = 0;
  int n_psnr = 0, n_ssim = 0, skipped = 0;
  for (const Item& it : items) {
    skipped += it.status == "exists";
    if (std::isfinite(it.psnr)) psnr_sum += it.psnr, ++n_psnr;
    if (std::isfinite(it.ssim)) ssim_sum += it.ssim, ++n_ssim;
  }
  const double psnr_mean = n_psnr ? psnr_sum / n_psnr : std::nan(""), ssim_mean = n_ssim ? ssim_sum / n_ssim : std::nan("");
  if (!batch && !csv_path.empty()) {
    CsvWriter one;
    make_directories(parent_directory(csv_path));
    const std::string tmp = csv_path + ".tmp" + std::to_string(::getpid());
    one.open(tmp);
    one.row(items[0].in.rel, items[0].status, items[0].psnr, items[0].ssim, items[0].seconds);
    one.close();
    if (std::rename(tmp.c_str(), csv_path.c_str()) != 0) {
      std::remove(tmp.c_str());
      throw Error("cannot write --csv '" + csv_path + "'");
    }
  }
  if (batch && !quiet) {
    std::string s = prefix + "restored " + std::to_string(restored) + ", skipped " + std::to_string(skipped) + ", failed " +
                    std::to_string(failed) + " of " + std::to_string(items.size()) + " images";
    if (shard.count > 1) s += " (shard " + shard.str() + ")";
    if (measure && n_psnr) {
      char m[96];
      std::snprintf(m, sizeof m, "; mean PSNR %.2f dB, SSIM %.4f", psnr_mean, ssim_mean);
      s += m;
    }
    std::fprintf(stderr, "%s\n", s.c_str());
  }

  if (!json_path.empty()) {
    report["reddiff_version"] = REDDIFF_VERSION;
    std::string cmdline = "reddiff " + task;
    for (int i = 1; i < argc; ++i) cmdline += std::string(" ") + argv[i];
    report["command"] = cmdline;
    report["task"] = task;
    report["mode"] = measure ? "measure" : "observation";
    report["input"] = in;
    report["output"] = out_arg;
    report["preset"] = {{"task", preset.task}, {"steps", preset.steps}, {"lr", preset.lr}, {"lambda", preset.lambda},
                        {"weighting", preset.weighting}, {"source", preset.source}};
    const json cls = so.class_label >= 0 ? json(so.class_label) : json(nullptr);
    if (algo == "dps") {
      const AlgoPreset& ap = algo_preset(algo, task);
      report["solver"] = {{"algo", algo}, {"steps", dpo.steps}, {"zeta", dpo.zeta}, {"seed", dpo.seed}, {"class", cls},
                          {"preset", {{"steps", ap.steps}, {"zeta", ap.zeta}, {"source", ap.source}}}};
    } else if (algo == "pigdm") {
      const AlgoPreset& ap = algo_preset(algo, task);
      report["solver"] = {{"algo", algo}, {"steps", pgo.steps}, {"zeta", pgo.weight}, {"eta", pgo.eta},
                          {"contrast", pgo.contrast}, {"seed", pgo.seed}, {"class", cls},
                          {"preset", {{"steps", ap.steps}, {"zeta", ap.zeta}, {"eta", ap.eta}, {"source", ap.source}}}};
    } else if (algo == "ddrm") {
      const AlgoPreset& ap = algo_preset(algo, task);
      report["solver"] = {{"algo", algo}, {"steps", ddo.steps}, {"eta", ddo.eta}, {"eta_b", ddo.eta_b},
                          {"sigma_0", 2 * oo.sigma_y}, {"svd_zero_threshold", SvdOptions{}.zero_threshold},
                          {"seed", ddo.seed}, {"class", cls},
                          {"preset", {{"steps", ap.steps}, {"eta", ap.eta}, {"eta_b", ap.eta_b}, {"source", ap.source}}}};
    } else {
      report["solver"] = {{"algo", algo}, {"steps", so.steps}, {"lr", so.lr}, {"lambda", so.lambda}, {"weighting", so.weighting},
                          {"sigma_x0", so.sigma_x0}, {"init", so.init}, {"seed", so.seed}, {"class", cls},
                          {"t_start", so.t_start >= 0 ? json(so.t_start) : json(nullptr)}, {"t_end", so.t_end},
                          {"cuda_graph", !solver ? json(nullptr) : tiling.any_tiled() ? json("off (tiled)") : json(solver->graph_note())}};
    }
    report["operator"] = operator_json(oo);
    report["tiling"] = tiling.report();
    report["settings"] = {{"batch_size", batch_size}, {"device", device}, {"precision", dtype_name(precision)},
                          {"threads", threads}, {"save_every", save_every}, {"overwrite", overwrite},
                          {"shard", shard.str()}, {"shard_from_slurm", shard.from_env},
                          {"save_measurement", save_meas.empty() ? json(nullptr) : json(save_meas)},
                          {"csv", csv_path.empty() ? json(nullptr) : json(csv_path)}};
    json mj = {{"path", model_path}};
    if (model) {
      mj["config"] = to_json(model->config.adm);
      mj["schedule"] = to_json(model->config.schedule);
      mj["arch"] = model->config.arch;
      mj["parameters"] = model->weights.parameter_count();
      mj["file_dtype"] = dtype_name(model->file_dtype);
      mj["file_bytes"] = model->file_bytes;
    }
    report["model"] = mj;
    report["device"] = backend ? json(backend->name()) : json(nullptr);
    report["host_cpu"] = cpu_model_name();
    report["precision"] = dtype_name(precision);
    report["timings"] = {{"load_s", load_s}, {"solve_s", solve_s}, {"total_s", seconds_since(t_start)},
                         {"steps_per_s", solve_s > 0 ? json(double(steps_run) / solve_s) : json(nullptr)},
                         {"images_per_s", solve_s > 0 ? json(double(restored) / solve_s) : json(nullptr)}};
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const size_t net_bytes = net ? net->device_bytes() : 0;
    report["memory"] = {
        {"network_device_bytes", net_bytes},  // weights on the device + arenas + backend workspaces, every shape compiled
        {"solver_bytes", max_solver_bytes},   // the largest batch: the solver's work buffers (see above), y, mu
        {"peak_device_bytes_estimate", net_bytes + max_solver_bytes},
        {"host_peak_rss_bytes", int64_t(ru.ru_maxrss) * 1024},
        // TODO: measured CUDA usage (cudaMemGetInfo before/after) once Backend exposes a memory query.
        {"cuda_mem_info", nullptr}};
    json imgs = json::array();
    for (const Item& it : items) {
      json j = {{"file", it.in.rel}, {"input", it.in.path}, {"output", it.in.out}, {"id", hex64(it.in.id)},
                {"status", it.status}, {"psnr", number_or_null(it.psnr)}, {"ssim", number_or_null(it.ssim)},
                {"seconds", it.seconds >= 0 ? json(it.seconds) : json(nullptr)}};
      if (it.xs.h > 0) j["size"] = {it.xs.w, it.xs.h};
      imgs.push_back(j);
    }
    report["images"] = imgs;
    report["counts"] = {{"images", items.size()}, {"restored", restored}, {"skipped", skipped}, {"failed", failed}};
    json metrics = {{"psnr", number_or_null(psnr_mean)}, {"ssim", number_or_null(ssim_mean)}, {"count", n_psnr}};
    if (!measure) metrics = nullptr;
    report["metrics"] = metrics;
    make_directories(parent_directory(json_path));
    write_file_atomic(json_path, report.dump(1) + "\n");
  }
  return failed > 0 ? 3 : 0;
}

int run_inpaint(int c, char** v) { return run_restore("inpaint", c, v); }
int run_sr(int c, char** v) { return run_restore("sr", c, v); }
int run_deblur(int c, char** v) { return run_restore("deblur", c, v); }
int run_colorize(int c, char** v) { return run_restore("colorize", c, v); }
int run_denoise(int c, char** v) { return run_restore("denoise", c, v); }
int run_phase(int c, char** v) { return run_restore("phase-retrieval", c, v); }
int run_hdr(int c, char** v) { return run_restore("hdr", c, v); }

CommandRegistration reg_inpaint("inpaint", task_preset("inpaint").summary, &run_inpaint, 1);
CommandRegistration reg_sr("sr", task_preset("sr").summary, &run_sr, 2);
CommandRegistration reg_deblur("deblur", task_preset("deblur").summary, &run_deblur, 3);
CommandRegistration reg_colorize("colorize", task_preset("colorize").summary, &run_colorize, 4);
CommandRegistration reg_denoise("denoise", task_preset("denoise").summary, &run_denoise, 5);
CommandRegistration reg_phase("phase-retrieval", task_preset("phase-retrieval").summary, &run_phase, 6);
CommandRegistration reg_hdr("hdr", task_preset("hdr").summary, &run_hdr, 7);

}  // namespace
}  // namespace reddiff
