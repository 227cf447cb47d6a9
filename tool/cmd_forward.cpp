// reddiff forward: run the network alone on a NumPy array, to check a converted model against PyTorch.
#include <cxxopts.hpp>
#include <cstdio>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/device_buffer.h"
#include "engine/model.h"
#include "engine/network.h"
#include "engine/npy.h"
#include "tool/cli_common.h"
#include "tool/command.h"
#include "tool/model_settings.h"

namespace reddiff {
namespace {

int run_forward(int argc, char** argv) {
  cxxopts::Options opts(
      argv[0],
      "Run the network once: eps = model(x, t). Reads x as float32 (N,C,H,W) .npy\n"
      "(float16/float64 are converted), writes the full output (N,out_channels,H,W) as float32 .npy.");
  opts.add_options()("x,input", "input array, .npy (N, C, H, W); also accepted as --x", cxxopts::value<std::string>())(
      "t,timestep", "timestep index in [0, T), for every image; also accepted as --t", cxxopts::value<int>())(
      "class", "class label for class-conditional models", cxxopts::value<int>())("out", "output .npy",
                                                                                  cxxopts::value<std::string>())(
      "vjp",
      "cotangent v, .npy shaped like the output: also write J^T v (the gradient of <v, out> w.r.t. x) to --grad-out",
      cxxopts::value<std::string>())("grad-out", "output .npy of the VJP (N, C, H, W), with --vjp",
                                     cxxopts::value<std::string>())("h,help", "show this help");
  ModelSettings::declare(opts, "Model and device");
  // The documented spelling is `--x in.npy --t T`; cxxopts takes one-letter names only as short options.
  std::vector<std::string> args(argv, argv + argc);
  for (auto& a : args) {
    for (const char* name : {"x", "t"}) {
      std::string long_form = std::string("--") + name;
      if (a == long_form)
        a = std::string("-") + name;
      else if (a.rfind(long_form + "=", 0) == 0)
        a = std::string("-") + name + a.substr(long_form.size() + 1);
    }
  }
  std::vector<char*> av;
  for (auto& a : args) av.push_back(&a[0]);
  auto r = parse_or_throw(opts, int(av.size()), av.data());
  if (r.count("help")) {
    std::printf("%s\n", opts.help().c_str());
    return 0;
  }
  for (const char* req : {"x", "t", "out"})
    if (!r.count(req)) throw Error(std::string("missing --") + req + " (see --help)");
  const ModelSettings ms = ModelSettings::from(r);
  auto model = ms.load_model();
  const AdmConfig& cfg = model->config.adm;
  NpyArray x = read_npy(r["x"].as<std::string>());
  if (x.is_integer) throw Error(r["x"].as<std::string>() + ": dtype " + x.descr + " is not a float array");
  if (x.shape.size() != 4)
    throw Error(r["x"].as<std::string>() + ": expected rank 4 (N, C, H, W), got shape " + shape_string(x.shape));
  if (x.shape[1] != cfg.in_channels)
    throw Error(r["x"].as<std::string>() + ": has " + std::to_string(x.shape[1]) + " channels, the model takes " +
                std::to_string(cfg.in_channels));
  int t = r["t"].as<int>();
  int T = model->config.schedule.num_timesteps;
  if (t < 0 || t >= T) throw Error("--t " + std::to_string(t) + " is outside [0, " + std::to_string(T) + ")");
  int n = int(x.shape[0]), h = int(x.shape[2]), w = int(x.shape[3]);
  std::vector<int32_t> labels;
  if (cfg.num_classes > 0) {
    if (!r.count("class")) throw Error("this model is class-conditional: give --class K");
    int k = r["class"].as<int>();
    if (k < 0 || k >= cfg.num_classes)
      throw Error("--class " + std::to_string(k) + " is outside [0, " + std::to_string(cfg.num_classes) + ")");
    labels.assign(size_t(n), k);
  } else if (r.count("class")) {
    throw Error("--class given but the model is unconditional");
  }
  NpyArray cot;
  if (r.count("vjp") != r.count("grad-out")) throw Error("--vjp and --grad-out go together (see --help)");
  if (r.count("vjp")) {
    cot = read_npy(r["vjp"].as<std::string>());
    std::vector<int64_t> want{n, cfg.out_channels, h, w};
    if (cot.is_integer || cot.shape != want)
      throw Error(r["vjp"].as<std::string>() + ": expected a float array of shape " + shape_string(want) + ", got " +
                  (cot.is_integer ? "dtype " + cot.descr : "shape " + shape_string(cot.shape)));
  }
  auto backend = ms.make_backend();
  Network net(*model, *backend, ms.precision());
  std::vector<float> tv(static_cast<size_t>(n), static_cast<float>(t));
  std::vector<float> out(size_t(n) * cfg.out_channels * h * w);
  DeviceBuffer dx(*backend, x.data.size() * 4), dt(*backend, tv.size() * 4),
      dl(*backend, std::max<size_t>(4, labels.size() * 4)), dout(*backend, out.size() * 4);
  backend->upload(dx.get(), x.data.data(), x.data.size() * 4);
  backend->upload(dt.get(), tv.data(), tv.size() * 4);
  if (!labels.empty()) backend->upload(dl.get(), labels.data(), labels.size() * 4);
  const int32_t* lp = labels.empty() ? nullptr : dl.as<int32_t>();
  if (!r.count("vjp")) {
    net.forward(dx.as<float>(), dt.as<float>(), lp, dout.as<float>(), n, h, w);
    backend->download(out.data(), dout.get(), out.size() * 4);
    write_npy(r["out"].as<std::string>(), {n, cfg.out_channels, h, w}, out.data());
    return 0;
  }
  DeviceBuffer dc(*backend, out.size() * 4), dg(*backend, x.data.size() * 4);
  backend->upload(dc.get(), cot.data.data(), out.size() * 4);
  net.forward_for_vjp(dx.as<float>(), dt.as<float>(), lp, dout.as<float>(), n, h, w);
  net.vjp(dc.as<float>(), dg.as<float>());
  std::vector<float> grad(x.data.size());
  backend->download(out.data(), dout.get(), out.size() * 4);
  backend->download(grad.data(), dg.get(), grad.size() * 4);
  write_npy(r["out"].as<std::string>(), {n, cfg.out_channels, h, w}, out.data());
  write_npy(r["grad-out"].as<std::string>(), {n, cfg.in_channels, h, w}, grad.data());
  std::fprintf(stderr, "vjp plan: %.1f MiB of device memory (arena and workspaces, weights excluded)\n",
               double(net.vjp_device_bytes(n, h, w)) / 1048576.0);
  return 0;
}

CommandRegistration reg("forward", "run the network alone on a .npy array (checks a model against PyTorch)",
                        &run_forward, 80);

}  // namespace
}  // namespace reddiff
