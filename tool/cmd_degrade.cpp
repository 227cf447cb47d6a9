// reddiff degrade TASK [options] IN OUT: apply a degradation operator (and measurement noise) to an image,
// to build test measurements for the restoration commands. TASK is an entry of the task table (tool/tasks.h):
// its formula for --help, how its measurement is written, what else it can save (a mask, a kernel).
#include <cxxopts.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/image_io.h"
#include "engine/input_limits.h"
#include "engine/npy.h"
#include "operators/operator.h"
#include "tool/cli_common.h"
#include "tool/command.h"
#include "tool/operator_options.h"
#include "tool/tasks.h"

namespace reddiff {
namespace {

std::string epilog() {
  std::ostringstream s;
  s << "\nTasks (x, y in [-1, 1]):\n";
  for (const auto& t : tasks())
    s << "  " << t.name << std::string(t.name.size() < 17 ? 17 - t.name.size() : 1, ' ') << t.formula << "\n";
  return s.str() + R"(
Outputs:
  OUT ending in .npy is written as float32 [1, C, H, W] in [-1, 1], unclamped (noise included).
  Otherwise OUT is an 8-bit PNG: values are clamped to [-1, 1] (i.e. [0, 1] pixels) when written.
  phase-retrieval as PNG is for viewing only: log(1 + y) / log(1 + p), p the 99.5th percentile of y,
  clamped to [0, 1]; restore from the .npy.
  jpeg writes the JPEG file itself (OUT ending in .jpg or .jpeg): libjpeg, --quality, --subsampling.
  quant as PNG: the N-bit levels rounded to 8 bits (reddiff quant snaps them back to the levels).
  --save-mask FILE   inpaint: the mask (PNG: white = keep; .npy: [1, 1, H, W], 1 = keep)
  --save-kernel FILE deblur: the blur kernel (PNG: scaled to its maximum; .npy: [kh, kw], sum 1)

Masks, motion kernels and noise are drawn from (--seed, --image-id): the same pair gives the same
measurement in every run and in every batch. See docs/tasks.md.
)";
}

// OUT's extension: the task's file (.jpg) or .png/.npy.
void check_out(const TaskSpec& spec, const std::string& out) {
  if (spec.view == MeasurementView::File) {
    if (!has_extension(out, spec.file_extension) && !has_extension(out, ".jpeg"))
      throw Error("OUT '" + out + "' must end in " + spec.file_extension + " (the " + spec.name +
                  " measurement is a file)");
  } else if (!has_extension(out, ".npy") && !has_extension(out, ".png")) {
    throw Error("OUT '" + out + "' must end in .png or .npy");
  }
}

int run_degrade(int argc, char** argv) {
  cxxopts::Options opts("reddiff degrade", "Apply a degradation operator and measurement noise to an image.");
  opts.custom_help("TASK [options]");
  opts.positional_help("IN OUT");
  opts.add_options()("task", "task", cxxopts::value<std::string>())("in", "input image", cxxopts::value<std::string>())(
      "out", "output measurement", cxxopts::value<std::string>())(
      "save-mask", "inpaint: also write the mask to FILE (.png or .npy)", cxxopts::value<std::string>(), "FILE")(
      "save-kernel", "deblur: also write the blur kernel to FILE (.png or .npy)", cxxopts::value<std::string>(),
      "FILE")("image-id", "id of the image for masks, kernels and noise",
              cxxopts::value<uint64_t>()->default_value("0"),
              "N")("device", "cpu|cuda", cxxopts::value<std::string>()->default_value("cpu"), "D")(
      "q,quiet", "print nothing on success")("h,help", "show this help");
  add_operator_options(opts);
  add_max_pixels_option(opts, "", kDegradeBytesPerPixel);
  opts.parse_positional({"task", "in", "out"});

  const cxxopts::ParseResult r = parse_or_throw(opts, argc, argv, "reddiff degrade --help");
  if (r.count("help")) {
    std::printf("%s%s", opts.help({"", "Degradation"}).c_str(), epilog().c_str());
    return 0;
  }
  if (!r.unmatched().empty())
    throw Error("unexpected argument '" + r.unmatched().front() + "' (see reddiff degrade --help)");
  if (!r.count("task")) throw Error("missing TASK (see reddiff degrade --help)");
  if (!r.count("in") || !r.count("out")) throw Error("missing IN or OUT image (see reddiff degrade --help)");
  const std::string task = r["task"].as<std::string>(), in = r["in"].as<std::string>(),
                    out = r["out"].as<std::string>();

  const std::string dev_name = r["device"].as<std::string>();
  if (dev_name != "cpu" && dev_name != "cuda")
    throw Error("--device: unknown value '" + dev_name + "' (expected cpu or cuda)");

  apply_max_pixels(r, kDegradeBytesPerPixel);
  const TaskSpec& spec = task_spec(task);
  check_out(spec, out);
  OperatorOptions o = operator_options_from(r, task);
  if (r.count("save-mask") && spec.degrade_extra != DegradeExtra::Mask) throw Error("--save-mask is for task inpaint");
  if (r.count("save-kernel") && spec.degrade_extra != DegradeExtra::Kernel)
    throw Error("--save-kernel is for task deblur");
  for (const char* opt : {"save-mask", "save-kernel"})
    if (r.count(opt)) {
      const std::string f = r[opt].as<std::string>();
      if (!has_extension(f, ".png") && !has_extension(f, ".npy"))
        throw Error(std::string("--") + opt + " '" + f + "' must end in .png or .npy");
    }
  const std::vector<uint64_t> ids = {r["image-id"].as<uint64_t>()};

  Image img = load_image_rgb(in);
  const Shape4 xs{1, 3, img.h, img.w};
  if (spec.view == MeasurementView::File) {  // jpeg: the file itself
    const std::vector<uint8_t> bytes = spec.encode(o, img.data.data(), xs.h, xs.w);
    write_file_atomic(out, bytes.data(), bytes.size());
    if (!r.count("quiet"))
      std::printf("%s: %s -> %s (quality %d, %s)\n", task.c_str(), xs.str().c_str(), out.c_str(), o.jpeg_quality,
                  o.jpeg_subsampling.c_str());
    return 0;
  }
  if (spec.bind) spec.bind(o, {in}, img.data.data(), xs, true);
  const std::unique_ptr<Backend> backend = dev_name == "cuda" ? make_cuda_backend(0) : make_cpu_backend();
  auto op = make_operator(o, xs, ids, *backend);
  const Shape4 ys = op->measurement_shape();
  std::vector<float> y(size_t(ys.numel()));
  apply_on_host(*op, img.data.data(), y.data());
  add_noise(y.data(), ys, o, ids);

  write_measurement(out, y.data(), ys, spec.view);

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
