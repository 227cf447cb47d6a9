#include "solvers/ddim_sampler.h"

#include <cmath>

#include "base/error.h"
#include "engine/device_buffer.h"
#include "kernels/philox.h"
#include "kernels/solver/reddiff_step.h"
#include "kernels/solver/sampler_step.h"

namespace reddiff {

void ddim_sample(Network& net, const DdimOptions& o, float* x, const std::vector<uint64_t>& ids, int h, int w,
                 const std::function<void(const SolverStep&)>& on_step) {
  Backend& b = net.backend();
  Device dev = b.device();
  Stream s = b.stream();
  const AdmConfig& cfg = net.model().config.adm;
  auto abar = net.model().config.schedule.alphas_cumprod();
  int T = int(abar.size()), n = int(ids.size());
  if (o.steps < 1 || o.steps > T) throw Error("--steps must be between 1 and " + std::to_string(T));
  if (!(o.eta >= 0 && o.eta <= 1)) throw Error("--eta must be in [0, 1]");
  DeviceBuffer out(b, size_t(n) * cfg.out_channels * h * w * 4), dids(b, ids.size() * 8), labels(b, size_t(n) * 4);
  b.upload(dids.get(), ids.data(), ids.size() * 8);
  if (cfg.num_classes > 0) {
    if (o.class_label < 0 || o.class_label >= cfg.num_classes)
      throw Error("this model is class-conditional: give --class in [0, " + std::to_string(cfg.num_classes) + ")");
    std::vector<int32_t> l(size_t(n), o.class_label);
    b.upload(labels.get(), l.data(), l.size() * 4);
  }
  const uint64_t* id_ptr = dev == Device::CUDA ? dids.as<uint64_t>() : ids.data();
  NoiseFillArgs init;
  init.x = x, init.image_ids = id_ptr, init.seed = o.seed, init.stream = kNoiseInit, init.n = n;
  init.image_numel = int64_t(cfg.in_channels) * h * w;
  noise_fill(dev, init, s);

  auto ts = reddiff_timesteps(T, 0, o.steps);
  DeviceBuffer tbuf = timestep_table(b, ts, n);
  for (size_t i = 0; i < ts.size(); ++i) {
    int t = ts[i];
    net.forward(x, tbuf.as<float>() + i * size_t(n), cfg.num_classes > 0 ? labels.as<int32_t>() : nullptr,
                out.as<float>(), n, h, w);
    DdimStepArgs a;
    a.x = x, a.eps_hat = out.as<float>(), a.eps_hat_channels = cfg.out_channels, a.image_ids = id_ptr;
    a.seed = o.seed, a.step = uint32_t(i), a.n = n, a.c = cfg.in_channels, a.hw = int64_t(h) * w;
    a.abar_t = float(abar[size_t(t)]);
    a.abar_s = i + 1 < ts.size() ? float(abar[size_t(ts[i + 1])]) : 1.0f;
    a.sigma = float(o.eta * std::sqrt((1 - a.abar_s) / (1 - a.abar_t)) * std::sqrt(1 - a.abar_t / a.abar_s));
    ddim_step(dev, a, s);
    if (on_step) on_step({int(i) + 1, int(ts.size()), t});
  }
  b.synchronize();
}

}  // namespace reddiff
