// reddiff degrade TASK [options] IN OUT: apply a degradation operator (and measurement noise) to an image,
// to build test measurements for the restoration commands.
#include <cxxopts.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/image_io.h"
#include "engine/input_limits.h"
#include "engine/npy.h"
#include "operators/operator.h"
#include "tool/cli_common.h"
#include "tool/command.h"
#include "tool/operator_options.h"

namespace reddiff {
namespace {

const char* kEpilog = R"(
Tasks (x, y in [-1, 1]):
  inpaint          y = m * x (holes are 0, mid-grey); --mask box|random|half|freeform|FILE
  sr               y = x downsampled by --scale (the small image): --sr-kernel pool|bicubic
  deblur           y = k * x, a 2-D convolution with reflect boundaries: --blur gaussian|uniform|motion|FILE
  colorize         y = mean of the colour channels (a grey image)
  denoise          y = x (add noise with --sigma-y)
  phase-retrieval  y = |orthonormal centred FFT of x zero-padded by round(oversample/8 * size) per side|
  hdr              y = clip(2x, -1, 1)

Outputs:
  OUT ending in .npy is written as float32 [1, C, H, W] in [-1, 1], unclamped (noise included).
  Otherwise OUT is an 8-bit PNG: values are clamped to [-1, 1] (i.e. [0, 1] pixels) when written.
  phase-retrieval as PNG is for viewing only: log(1 + y) / log(1 + p), p the 99.5th percentile of y,
  clamped to [0, 1]; restore from the .npy.
  --save-mask FILE   inpaint: the mask (PNG: white = keep; .npy: [1, 1, H, W], 1 = keep)
  --save-kernel FILE deblur: the blur kernel (PNG: scaled to its maximum; .npy: [kh, kw], sum 1)

Masks, motion kernels and noise are drawn from (--seed, --image-id): the same pair gives the same
measurement in every run and in every batch. See docs/tasks.md.
)";

int run_degrade(int argc, char** argv) {
  cxxopts::Options opts("reddiff degrade", "Apply a degradation operator and measurement noise to an image.");
  opts.custom_help("TASK [options]");
  opts.positional_help("IN OUT");
  opts.add_options()
      ("task", "task", cxxopts::value<std::string>())
      ("in", "input image", cxxopts::value<std::string>())
      ("out", "output measurement", cxxopts::value<std::string>())
      ("save-mask", "inpaint: also write the mask to FILE (.png or .npy)", cxxopts::value<std::string>(), "FILE")
      ("save-kernel", "deblur: also write the blur kernel to FILE (.png or .npy)", cxxopts::value<std::string>(), "FILE")
      ("image-id", "id of the image for masks, kernels and noise", cxxopts::value<uint64_t>()->default_value("0"), "N")
      ("device", "cpu|cuda", cxxopts::value<std::string>()->default_value("cpu"), "D")
      ("q,quiet", "print nothing on success")
      ("h,help", "show this help");
  add_operator_options(opts);
  add_max_pixels_option(opts, "", kDegradeBytesPerPixel);
  opts.parse_positional({"task", "in", "out"});

  std::optional<cxxopts::ParseResult> parsed;
  try {
    parsed.emplace(opts.parse(argc, argv));
  } catch (const cxxopts::exceptions::exception& e) {
    throw Error(std::string(e.what()) + " (see reddiff degrade --help)");
  }
  const cxxopts::ParseResult& r = *parsed;
  if (r.count("help")) {
    std::printf("%s%s", opts.help({"", "Degradation"}).c_str(), kEpilog);
    return 0;
  }
  if (!r.unmatched().empty()) throw Error("unexpected argument '" + r.unmatched().front() + "' (see reddiff degrade --help)");
  if (!r.count("task")) throw Error("missing TASK (see reddiff degrade --help)");
  if (!r.count("in") || !r.count("out")) throw Error("missing IN or OUT image (see reddiff degrade --help)");
  const std::string task = r["task"].as<std::string>(), in = r["in"].as<std::string>(), out = r["out"].as<std::string>();
  const bool out_npy = has_extension(out, ".npy");
  if (!out_npy && !has_extension(out, ".png")) throw Error("OUT '" + out + "' must end in .png or .npy");

  const std::string dev_name = r["device"].as<std::string>();
  if (dev_name != "cpu" && dev_name != "cuda") throw Error("--device: unknown value '" + dev_name + "' (expected cpu or cuda)");

  apply_max_pixels(r, kDegradeBytesPerPixel);
  OperatorOptions o = operator_options_from(r, task);
  if (r.count("save-mask") && task != "inpaint") throw Error("--save-mask is for task inpaint");
  if (r.count("save-kernel") && task != "deblur") throw Error("--save-kernel is for task deblur");
  for (const char* opt : {"save-mask", "save-kernel"})
    if (r.count(opt)) {
      const std::string f = r[opt].as<std::string>();
      if (!has_extension(f, ".png") && !has_extension(f, ".npy"))
        throw Error(std::string("--") + opt + " '" + f + "' must end in .png or .npy");
    }
  const std::vector<uint64_t> ids = {r["image-id"].as<uint64_t>()};

  Image img = load_image_rgb(in);
  const Shape4 xs{1, 3, img.h, img.w};
  auto backend = make_backend(dev_name, 0);
  auto op = make_operator(o, xs, ids, *backend);
  const Shape4 ys = op->measurement_shape();
  std::vector<float> y(size_t(ys.numel()));
  apply_on_host(*op, img.data.data(), y.data());
  add_noise(y.data(), ys, o, ids);

  if (out_npy) {
    write_npy(out, {ys.n, ys.c, ys.h, ys.w}, y.data());
  } else if (task == "phase-retrieval") {
    std::vector<float> v(y);
    std::sort(v.begin(), v.end());
    const float white = std::max(v[size_t(0.995 * double(v.size() - 1))], 1e-12f);  // 99.5th percentile
    const float den = std::log1p(white);
    for (size_t i = 0; i < y.size(); ++i) v[i] = std::log1p(std::max(y[i], 0.0f)) / den;
    save_png(out, v.data(), ys.c, ys.h, ys.w, 0.0f, 1.0f);
  } else {
    save_png(out, y.data(), ys.c, ys.h, ys.w);
  }

  if (r.count("save-mask")) {
    const std::string f = r["save-mask"].as<std::string>();
    std::vector<float> m = make_inpaint_masks(o, xs, ids);
    if (has_extension(f, ".npy"))
      write_npy(f, {1, 1, xs.h, xs.w}, m.data());
    else
      save_png(f, m.data(), 1, xs.h, xs.w, 0.0f, 1.0f);
  }
  if (r.count("save-kernel")) {
    const std::string f = r["save-kernel"].as<std::string>();
    BlurKernels bk = make_blur_kernels(o, xs, ids);
    if (has_extension(f, ".npy")) {
      write_npy(f, {bk.kh, bk.kw}, bk.k.data());
    } else {
      const float mx = *std::max_element(bk.k.begin(), bk.k.end());
      save_png(f, bk.k.data(), 1, bk.kh, bk.kw, 0.0f, mx > 0.0f ? mx : 1.0f);
    }
  }
  if (!r.count("quiet")) {
    std::printf("%s: %s -> %s (%s, %s)\n", op->describe().c_str(), xs.str().c_str(), ys.str().c_str(), out.c_str(),
                o.sigma_y > 0.0 ? (o.noise + " noise sigma_y " + std::to_string(o.sigma_y)).c_str() : "no noise");
  }
  return 0;
}

CommandRegistration reg("degrade", "apply a degradation operator (and noise) to an image: make test measurements",
                        &run_degrade, 20);

}  // namespace
}  // namespace reddiff
