// The network as the gradient-guided solvers (DPS, PiGDM) use it: a forward pass that keeps what its
// vector-Jacobian product needs, then grad_x = J^T cotangent of that forward's output w.r.t. its input.
// By default this is Network::forward_for_vjp / Network::vjp with the run's timesteps and class labels
// uploaded once; tests replace it with an analytic eps-predictor and its exact Jacobian.
#pragma once
#include <functional>
#include <vector>

#include "engine/device_buffer.h"
#include "engine/network.h"

namespace reddiff {

struct EpsVjpFunctions {
  // out = network(xt, t) on the solver's device: NCHW f32 [n, out_channels, h, w] (eps in the first
  // in_channels channels, a learned-variance model's v in the next ones); t is the model's timestep index.
  std::function<void(const float* xt, int t, float* out, int n, int h, int w)> forward;
  // grad_x = J^T cotangent for the last forward: cotangent is shaped like out (the solvers put zeros in
  // the variance channels), grad_x like xt.
  std::function<void(const float* cotangent, float* grad_x)> vjp;
  int out_channels = 0;
};

// One solve's view of the network: step i evaluates timestep ts[i].
class GuidedNetwork {
 public:
  // custom: the replacement functions, or null for the network itself. class_label: for class-conditional
  // models (an Error when it is missing or out of range).
  GuidedNetwork(Network& net, const EpsVjpFunctions* custom, const std::vector<int>& ts, int n, int class_label);
  int out_channels() const { return out_channels_; }
  void forward(size_t i, const float* x, float* out, int h, int w);
  void vjp(const float* cotangent, float* grad_x);

 private:
  Network& net_;
  const EpsVjpFunctions* custom_;
  std::vector<int> ts_;
  int n_, out_channels_;
  DeviceBuffer tbuf_, labels_;
};

}  // namespace reddiff
