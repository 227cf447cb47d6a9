// The task table. Preset sources: RED-diff's starting points are the official scripts' values
// (../shared/reference/reddiff-reference.md section 4); inpaint, sr, deblur and denoise were then chosen by
// scripts/tune-presets on the eight validation photos with the bundled model (docs/tasks.md, "Presets", raw
// results in docs/gpu-runs/tune-a3f5270). The official code uses 1000 diffusion steps in its batch scripts
// and 50 in its default config; 100 is the README's example and our default everywhere.
// DPS: DPS2022/diffusion-posterior-sampling configs/diffusion_config.yaml (1000 DDPM steps) and the
// conditioning scale of configs/<task>_config.yaml. PiGDM: NVlabs/RED-diff _configs/algo/pgdm.yaml
// (grad_term_weight 1) with sample_test.sh's pgdm lines (eta 1.0, num_steps 100), and algos/pgdm.py's
// contrast weight 1500 for hdr. DDRM: bahjat-kawar/ddrm main.py's --eta 0.85 and --etaB 1 defaults with the
// README's --timesteps 20. None of DPS's, PiGDM's or DDRM's were tuned on the bundled model.
#include "tool/tasks.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/image_io.h"
#include "engine/npy.h"
#include "operators/jpeg_file.h"

namespace reddiff {
namespace {

// ------------------------------------------------------------------------------------------- presets

struct RedDiffPreset {
  double lr, lambda;
  std::string source;
  int t_start = -1;  // -1: the model's T
};
struct DpsPreset {
  double zeta;
  std::string source;
};

// Every algorithm's preset: RED-diff's and DPS's per task, PiGDM's and DDRM's the same for every task (PiGDM
// with a contrast weight for hdr).
void set_presets(TaskSpec& t, const RedDiffPreset& r, const DpsPreset& d, double pigdm_contrast = 0) {
  SolverSettings& s = t.preset;
  s.reddiff.steps = 100, s.reddiff.lr = r.lr, s.reddiff.lambda = r.lambda, s.reddiff.weighting = "linear";
  s.reddiff.t_start = r.t_start;
  s.dps.steps = 1000, s.dps.zeta = d.zeta;
  s.pigdm.steps = 100, s.pigdm.weight = 1.0, s.pigdm.eta = 1.0, s.pigdm.contrast = pigdm_contrast;
  s.ddrm.steps = 20, s.ddrm.eta = 0.85, s.ddrm.eta_b = 1.0;
  t.preset_source[Algorithm::RedDiff] = r.source;
  t.preset_source[Algorithm::Dps] = d.source;
  t.preset_source[Algorithm::Pigdm] =
      "RED-diff pgdm.yaml grad_term_weight 1; sample_test.sh pgdm lines: eta 1.0, 100 steps" +
      std::string(pigdm_contrast != 0 ? "; algos/pgdm.py's hdr contrast weight 1500" : "");
  t.preset_source[Algorithm::Ddrm] =
      "bahjat-kawar/ddrm main.py: --eta 0.85, --etaB 1 (defaults), --timesteps 20 (README runs)";
}

const char* kDpsUntuned = "no DPS config; the README example's scale 0.5 (untuned), 1000 steps";

// ------------------------------------------------------------------------------------------- shapes

Shape4 sr_x_shape(const OperatorOptions& o, Shape4 y) { return {1, 3, y.h * o.scale, y.w * o.scale}; }

// The magnitudes have side Y = s + 2 round(oversample/8 * s) for an image side s.
Shape4 phase_x_shape(const OperatorOptions& o, Shape4 y) {
  auto side = [&](int Y) {
    const int guess = int(double(Y) / (1.0 + o.oversample / 4.0));
    for (int s = std::max(1, guess - 3); s <= guess + 3; ++s)
      if (s + 2 * int(std::lround(o.oversample / 8.0 * s)) == Y) return s;
    throw Error("a " + std::to_string(Y) + "-pixel side is no phase-retrieval measurement with --oversample " +
                std::to_string(o.oversample));
  };
  const Shape4 x{1, 3, side(y.h), side(y.w)};
  const std::unique_ptr<Backend> cpu = make_cpu_backend();
  if (make_operator(o, x, {0}, *cpu)->measurement_shape() != Shape4{1, y.c, y.h, y.w})
    throw Error("the " + std::to_string(y.w) + "x" + std::to_string(y.h) + " magnitudes do not fit --oversample " +
                std::to_string(o.oversample));
  return x;
}

// ------------------------------------------------------------------------------------------- bound tasks

JpegEncodeOptions jpeg_encode_options(const OperatorOptions& o) {
  JpegEncodeOptions e;
  e.quality = o.jpeg_quality;
  e.subsampling = o.jpeg_subsampling;
  return e;
}

std::vector<uint8_t> jpeg_encode(const OperatorOptions& o, const float* image, int h, int w) {
  return encode_jpeg(image, 3, h, w, jpeg_encode_options(o));
}

// jpeg: the files' coefficients (default mode) or those of the clean images encoded at --quality.
void jpeg_bind(OperatorOptions& o, const std::vector<std::string>& files, const float* images, Shape4 xs,
               bool measure) {
  o.jpeg_files.clear();
  for (int k = 0; k < xs.n; ++k) {
    std::shared_ptr<JpegCoefficients> f;
    if (measure) {
      const std::vector<uint8_t> bytes = jpeg_encode(o, images + size_t(k) * size_t(xs.image_numel()), xs.h, xs.w);
      f = std::make_shared<JpegCoefficients>(read_jpeg_memory(bytes.data(), bytes.size(), files[size_t(k)]));
    } else {
      f = std::make_shared<JpegCoefficients>(read_jpeg_file(files[size_t(k)]));
    }
    if (f->width != xs.w || f->height != xs.h)
      throw Error(files[size_t(k)] + ": a " + std::to_string(f->width) + "x" + std::to_string(f->height) +
                  " JPEG where a " + std::to_string(xs.w) + "x" + std::to_string(xs.h) + " image was expected");
    o.jpeg_files.push_back(std::move(f));
  }
}

// quant: the images themselves (the operator snaps them to the --bits levels).
void quant_bind(OperatorOptions& o, const std::vector<std::string>&, const float* images, Shape4 xs, bool) {
  o.quant_image = std::make_shared<const std::vector<float>>(images, images + xs.numel());
}

// ------------------------------------------------------------------------------------------- the table

std::vector<TaskSpec> make_tasks() {
  std::vector<TaskSpec> v;
  {
    TaskSpec& t = v.emplace_back();
    t.name = "inpaint", t.order = 1;
    t.summary = "fill the holes of a photo (--mask box|random|half|freeform|FILE)";
    t.formula = "y = m * x (holes are 0, mid-grey); --mask box|random|half|freeform|FILE";
    t.in_help =
        "IN is the photo with holes (whatever is in the holes is ignored); --mask says where the holes are:\n"
        "  a mask file (white = keep, e.g. from `reddiff degrade --save-mask`) or box|random|half|freeform\n"
        "  drawn as `reddiff degrade` draws them (same --seed; the image id, see below). OUT has IN's size.";
    t.examples = {
        "reddiff inpaint --mask hole.png photo.png restored.png",
        "reddiff inpaint --measure --mask freeform --fraction 0.25 --json report.json clean.png restored.png"};
    set_presets(
        t,
        {0.5, 0.1,
         "validation sweep of the retrained model: lambda 0.1, lr 0.5, best for a 96x96 box and within 0.4 dB of "
         "the best for 25 % free-form masks (official README example in2_20ff: lambda 0.25, lr 0.5)"},
        {0.5, "DPS configs/inpainting_config.yaml scale 0.5, diffusion_config.yaml 1000 steps"});
    t.observation = Observation::Degraded;
    t.degrade_extra = DegradeExtra::Mask;
  }
  {
    TaskSpec& t = v.emplace_back();
    t.name = "sr", t.order = 2;
    t.summary = "super-resolution: upscale a small image by --scale";
    t.formula = "y = x downsampled by --scale (the small image): --sr-kernel pool|bicubic";
    t.in_help = "IN is the small image; OUT is --scale times larger (--sr-kernel: how IN was made from it).";
    t.examples = {"reddiff sr --scale 4 small.png large.png"};
    set_presets(
        t,
        {0.3, 0.05,
         "validation sweep, x4 pooling: lambda 0.05, lr 0.3 (official sample_test.sh sr4: lambda 0.25, lr 0.1)"},
        {0.3, "DPS configs/super_resolution_config.yaml scale 0.3, 1000 steps"});
    t.x_shape = sr_x_shape;
  }
  {
    TaskSpec& t = v.emplace_back();
    t.name = "deblur", t.order = 3;
    t.summary = "remove a known blur (--blur gaussian|uniform|motion|FILE)";
    t.formula = "y = k * x, a 2-D convolution with reflect boundaries: --blur gaussian|uniform|motion|FILE";
    t.in_help =
        "IN is the blurred photo; --blur names its blur: a kernel file (image or .npy, e.g. from\n"
        "  `reddiff degrade --save-kernel`) or gaussian|uniform|motion with their parameters.";
    t.examples = {"reddiff deblur in.png restored.png"};
    set_presets(t, {0.3, 0.1, "validation sweep, gaussian sigma 3 with sigma_y 0.01: lambda 0.1, lr 0.3"},
                {0.3, "DPS configs/gaussian_deblur_config.yaml and motion_deblur_config.yaml scale 0.3, 1000 steps"});
    t.degrade_extra = DegradeExtra::Kernel;
  }
  {
    TaskSpec& t = v.emplace_back();
    t.name = "colorize", t.order = 4;
    t.summary = "colourise a grey photo";
    t.formula = "y = mean of the colour channels (a grey image)";
    t.in_help = "IN is a grey photo (a colour image is averaged to grey first); OUT is in colour.";
    t.examples = {"reddiff colorize in.png restored.png"};
    set_presets(
        t, {0.5, 0.25, "no official script; the base lambda 0.25 with the lr 0.5 of the other linear tasks (untuned)"},
        {0.5, kDpsUntuned});
    t.y_channels = 1;
    t.observation = Observation::Degraded;
  }
  {
    TaskSpec& t = v.emplace_back();
    t.name = "denoise", t.order = 5;
    t.summary = "remove Gaussian or Poisson noise (--sigma-y)";
    t.formula = "y = x (add noise with --sigma-y)";
    t.in_help = "IN is the noisy photo.";
    t.examples = {"reddiff denoise in.png restored.png"};
    set_presets(t,
                {0.3, 4.0,
                 "validation sweep at sigma_y 0.1: lambda 4, lr 0.3 (no official script; lambda 2 loses 1.5 dB, 16 "
                 "over-smooths)"},
                {0.5, kDpsUntuned});
  }
  {
    TaskSpec& t = v.emplace_back();
    t.name = "phase-retrieval", t.order = 6;
    t.summary = "recover an image from its Fourier magnitudes";
    t.formula = "y = |orthonormal centred FFT of x zero-padded by round(oversample/8 * size) per side|";
    t.in_help =
        "IN is the .npy of Fourier magnitudes written by `reddiff degrade phase-retrieval ... y.npy` (same\n"
        "  --oversample); the PNG that degrade writes is for viewing only. OUT is the image.";
    t.examples = {"reddiff degrade phase-retrieval clean.png y.npy && reddiff phase-retrieval y.npy restored.png"};
    set_presets(t, {0.5, 0.25, "official sample_test.sh phase_retrieval: lambda 0.25, lr 0.5 (untuned)"},
                {1.0, "DPS configs/phase_retrieval_config.yaml scale 1.0, 1000 steps"});
    t.observation = Observation::NpyOnly;
    t.x_shape = phase_x_shape;
    t.view = MeasurementView::LogMagnitude;
  }
  {
    TaskSpec& t = v.emplace_back();
    t.name = "hdr", t.order = 7;
    t.summary = "recover the clipped highlights of y = clip(2x)";
    t.formula = "y = clip(2x, -1, 1)";
    t.in_help = "IN is the clipped photo y = clip(2x); OUT is x (half IN's brightness, highlights recovered).";
    t.examples = {"reddiff hdr in.png restored.png"};
    set_presets(t, {0.5, 0.25, "official sample_test.sh hdr: lambda 0.25, lr 0.5 (untuned)"}, {0.5, kDpsUntuned}, 1500);
  }
  {
    TaskSpec& t = v.emplace_back();
    t.name = "jpeg", t.order = 8;
    t.summary = "restore a JPEG photo from the file's own DCT coefficients";
    t.formula = "y = the JPEG file of x (libjpeg, --quality QF, --subsampling 444|422|420): OUT must end in .jpg";
    t.in_help =
        "IN is the JPEG file: its quantised DCT coefficients, tables and chroma subsampling are the measurement\n"
        "  (read losslessly, not decoded; any size, colour or grey, baseline or progressive). OUT has IN's size.\n"
        "  --measure: IN is clean and is encoded here with libjpeg at --quality and --subsampling.";
    t.examples = {"reddiff jpeg photo.jpg restored.png",
                  "reddiff jpeg --measure --quality 10 --subsampling 420 --json report.json clean.png restored.png",
                  "reddiff degrade jpeg --quality 10 clean.png photo.jpg"};
    set_presets(t,
                {0.1, 0.25,
                 "validation sweep at quality 10, 4:2:0 (scripts/tune-bins): data term l2, lambda 0.25, lr 0.1 "
                 "(official sample_test.sh jpeg20: lambda 0.25, lr 0.5)"},
                {0.5, kDpsUntuned});
    t.observation = Observation::File;
    t.view = MeasurementView::File;
    t.bind = jpeg_bind;
    t.encode = jpeg_encode;
    t.file_extension = ".jpg";
  }
  {
    TaskSpec& t = v.emplace_back();
    t.name = "quant", t.order = 9;
    t.summary = "dequantise an image stored with --bits N bits per channel (banding)";
    t.formula = "y = x rounded to 2^N levels per channel (--bits N)";
    t.in_help =
        "IN is the banded image: every channel at one of 2^N levels (--bits N; stored as 8 or 16 bits per\n"
        "  channel). OUT has IN's size; --out-bits 16 keeps the smooth result's fine steps.";
    t.examples = {"reddiff quant --bits 4 banded.png smooth.png",
                  "reddiff quant --measure --bits 3 --json report.json clean.png restored.png"};
    set_presets(t,
                {0.1, 1.0,
                 "validation sweep at 4 bits (scripts/tune-bins): data term l2, lambda 1, lr 0.1, t-start 500 (no "
                 "official quant script)",
                 500},
                {0.5, kDpsUntuned});
    t.observation = Observation::Degraded;
    t.bind = quant_bind;
  }
  return v;
}

}  // namespace

const std::vector<TaskSpec>& tasks() {
  static const std::vector<TaskSpec> t = make_tasks();
  return t;
}

const TaskSpec& task_spec(const std::string& name) {
  std::string names;
  for (const auto& t : tasks()) {
    if (t.name == name) return t;
    names += (names.empty() ? "" : &t == &tasks().back() ? " or " : ", ") + t.name;
  }
  throw Error("unknown task '" + name + "' (expected " + names + ")");
}

OperatorOptions TaskSpec::operator_defaults() const {
  OperatorOptions o;
  o.task = name;
  return o;
}

Shape4 TaskSpec::image_shape(const OperatorOptions& o, Shape4 y) const {
  return x_shape ? x_shape(o, y) : Shape4{1, 3, y.h, y.w};
}

void write_measurement(const std::string& path, const float* y, Shape4 ys, MeasurementView view) {
  if (has_extension(path, ".npy")) {
    write_npy(path, {ys.n, ys.c, ys.h, ys.w}, y);
    return;
  }
  if (view == MeasurementView::File) throw Error("this task's measurement is a file, not an array", 1);
  if (view == MeasurementView::Pixels) {
    save_png(path, y, ys.c, ys.h, ys.w);
    return;
  }
  const size_t n = size_t(ys.numel());
  std::vector<float> v(y, y + n);
  std::sort(v.begin(), v.end());
  const float white = std::max(v[size_t(0.995 * double(n - 1))], 1e-12f);  // the 99.5th percentile
  const float den = std::log1p(white);
  for (size_t i = 0; i < n; ++i) v[i] = std::log1p(std::max(y[i], 0.0f)) / den;
  save_png(path, v.data(), ys.c, ys.h, ys.w, 0.0f, 1.0f);
}

}  // namespace reddiff
