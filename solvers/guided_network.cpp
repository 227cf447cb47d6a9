#include "solvers/guided_network.h"

#include <string>

#include "base/error.h"
#include "solvers/reddiff_solver.h"

namespace reddiff {

GuidedNetwork::GuidedNetwork(Network& net, const EpsVjpFunctions* custom, const std::vector<int>& ts, int n,
                             int class_label)
    : net_(net), custom_(custom), ts_(ts), n_(n) {
  const AdmConfig& cfg = net.model().config.adm;
  out_channels_ = custom ? custom->out_channels : cfg.out_channels;
  if (custom) return;
  Backend& b = net.backend();
  tbuf_ = timestep_table(b, ts, n);
  if (cfg.num_classes > 0) {
    if (class_label < 0 || class_label >= cfg.num_classes)
      throw Error("this model is class-conditional: give --class in [0, " + std::to_string(cfg.num_classes) + ")");
    std::vector<int32_t> l(size_t(n), class_label);
    labels_ = DeviceBuffer(b, l.size() * 4);
    b.upload(labels_.get(), l.data(), l.size() * 4);
  }
}

void GuidedNetwork::forward(size_t i, const float* x, float* out, int h, int w) {
  if (custom_) return custom_->forward(x, ts_[i], out, n_, h, w);
  net_.forward_for_vjp(x, tbuf_.as<float>() + i * size_t(n_), labels_.as<int32_t>(), out, n_, h, w);
}

void GuidedNetwork::vjp(const float* cotangent, float* grad_x) {
  if (custom_) return custom_->vjp(cotangent, grad_x);
  net_.vjp(cotangent, grad_x);
}

}  // namespace reddiff
