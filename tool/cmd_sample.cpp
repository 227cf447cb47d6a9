// reddiff sample: unconditional DDIM sampling, to look at what a model has learned.
#include <cxxopts.hpp>
#include <cstdio>

#include "base/error.h"
#include "engine/device_buffer.h"
#include "engine/image_io.h"
#include "engine/model.h"
#include "engine/network.h"
#include "solvers/ddim_sampler.h"
#include "tool/cli_common.h"
#include "tool/command.h"
#include "tool/model_settings.h"
#include "tool/progress_bar.h"

namespace reddiff {
namespace {

int run_sample(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Draw images from the model alone (DDIM; eta 1 adds DDPM-like noise) and write them\n"
                        "as one PNG grid (OUT.png) of --count images, --columns wide.");
  opts.positional_help("OUT.png");
  opts.add_options()("count", "number of images", cxxopts::value<int>()->default_value("4"))(
      "columns", "images per row of the grid", cxxopts::value<int>()->default_value("4"))(
      "size", "image height and width (any size; the model pads to its multiple)",
      cxxopts::value<int>()->default_value("256"))("steps", "DDIM steps", cxxopts::value<int>()->default_value("50"))(
      "eta", "DDIM eta in [0, 1]", cxxopts::value<double>()->default_value("0"))(
      "seed", "random seed", cxxopts::value<uint64_t>()->default_value("0"))(
      "class", "class label (class-conditional models)", cxxopts::value<int>()->default_value("-1"))(
      "quiet", "no progress bar")("out", "output PNG", cxxopts::value<std::string>())("h,help", "show this help");
  ModelSettings::declare(opts, "Model and device");
  opts.parse_positional({"out"});
  auto r = parse_or_throw(opts, argc, argv);
  if (r.count("help")) {
    std::printf("%s\n", opts.help().c_str());
    return 0;
  }
  if (!r.count("out")) throw Error("missing OUT.png (see --help)");
  int count = r["count"].as<int>(), cols = r["columns"].as<int>(), size = r["size"].as<int>();
  if (count < 1 || count > 256) throw Error("--count must be between 1 and 256");
  if (cols < 1) throw Error("--columns must be positive");
  if (size < 8 || size > 4096) throw Error("--size must be between 8 and 4096");
  const ModelSettings ms = ModelSettings::from(r);
  auto model = ms.load_model();
  auto backend = ms.make_backend();
  Network net(*model, *backend, ms.precision());
  DdimOptions o;
  o.steps = r["steps"].as<int>(), o.eta = r["eta"].as<double>(), o.seed = r["seed"].as<uint64_t>();
  o.class_label = r["class"].as<int>();
  std::vector<uint64_t> ids;
  for (int i = 0; i < count; ++i) ids.push_back(uint64_t(i));
  int c = model->config.adm.in_channels;
  size_t img = size_t(c) * size * size;
  DeviceBuffer x(*backend, img * count * 4);
  StepProgressBar bar(o.steps, count, !r.count("quiet") && StepProgressBar::stderr_is_terminal());
  ddim_sample(net, o, x.as<float>(), ids, size, size, [&](const SolverStep& s) { bar.step(s.index, s.steps); });
  bar.finish();
  std::vector<float> host(img * count);
  backend->download(host.data(), x.get(), host.size() * 4);
  int rows = (count + cols - 1) / cols, gc = std::min(cols, count);
  int gh = rows * size + (rows - 1) * 2, gw = gc * size + (gc - 1) * 2;  // 2-pixel white gutters
  std::vector<float> grid(size_t(c) * gh * gw, 1.0f);
  for (int k = 0; k < count; ++k) {
    int oy = (k / cols) * (size + 2), ox = (k % cols) * (size + 2);
    for (int ch = 0; ch < c; ++ch)
      for (int i = 0; i < size; ++i)
        for (int j = 0; j < size; ++j)
          grid[(size_t(ch) * gh + oy + i) * gw + ox + j] = host[size_t(k) * img + (size_t(ch) * size + i) * size + j];
  }
  save_png(r["out"].as<std::string>(), grid.data(), c, gh, gw);
  return 0;
}

CommandRegistration reg("sample", "draw images from the model alone (DDIM), to see what it has learned", &run_sample,
                        70);

}  // namespace
}  // namespace reddiff
