// A composition of operators, y = A_K(...A_2(A_1(x))) (the official code's "deg1-deg2" strings):
// apply in order, pinv in reverse order, and the VJP by the chain rule through the stored intermediates.
// Works on either device through the stages' own methods; its buffers live on the operators' device.
#include <string>
#include <vector>

#include "kernels/operator/pointwise.h"
#include "operators/op_impl.h"

namespace reddiff {

namespace {

class ComposedOperator : public Operator {
 public:
  explicit ComposedOperator(std::vector<std::unique_ptr<Operator>> stages) : stages_(std::move(stages)) {
    Device d = device();
    for (size_t k = 0; k + 1 < stages_.size(); ++k) {
      size_t bytes = size_t(stages_[k]->measurement_shape().numel()) * sizeof(float);
      z_.emplace_back(d, bytes);
      g_.emplace_back(d, bytes);
    }
    r_ = OpBuffer(d, size_t(measurement_shape().numel()) * sizeof(float));
  }

  std::string describe() const override {
    std::string s;
    for (const auto& st : stages_) s += (s.empty() ? "" : ", then ") + st->describe();
    return s;
  }
  Shape4 input_shape() const override { return stages_.front()->input_shape(); }
  Shape4 measurement_shape() const override { return stages_.back()->measurement_shape(); }
  Device device() const override { return stages_.front()->device(); }
  bool is_linear() const override {
    for (const auto& st : stages_)
      if (!st->is_linear()) return false;
    return true;
  }

  void apply(const float* x, float* y, void* s) const override {
    forward(x, s);
    stages_.back()->apply(stage_input(stages_.size() - 1, x), y, s);
  }

  // g = J_1^T J_2^T ... J_K^T r, each J_k taken at stage k's input.
  void vjp(const float* x, const float* r, float* g, void* s) const override {
    forward(x, s);
    const float* up = r;
    for (size_t k = stages_.size(); k-- > 0;) {
      float* out = k == 0 ? g : g_[k - 1].as<float>();
      stages_[k]->vjp(stage_input(k, x), up, out, s);
      up = out;
    }
  }

  void pinv(const float* y, float* x, void* s) const override {
    const float* cur = y;
    for (size_t k = stages_.size(); k-- > 0;) {
      float* out = k == 0 ? x : z_[k - 1].as<float>();
      stages_[k]->pinv(cur, out, s);
      cur = out;
    }
  }

  void residual_vjp(const float* x, const float* y, float* g, void* s) const override {
    apply(x, r_.as<float>(), s);
    PointwiseArgs a;
    a.kind = PointwiseKind::Sub;
    a.a = r_.as<float>(), a.b = y, a.out = r_.as<float>(), a.count = measurement_shape().numel();
    RD_OPS_CALL(device(), ops_pointwise, a, s);
    vjp(x, r_.as<float>(), g, s);
  }

 private:
  // z_[k] = stage k's output, for every stage but the last.
  void forward(const float* x, void* s) const {
    for (size_t k = 0; k + 1 < stages_.size(); ++k) stages_[k]->apply(stage_input(k, x), z_[k].as<float>(), s);
  }
  const float* stage_input(size_t k, const float* x) const { return k == 0 ? x : z_[k - 1].as<float>(); }

  std::vector<std::unique_ptr<Operator>> stages_;
  std::vector<OpBuffer> z_, g_;
  mutable OpBuffer r_;
};

}  // namespace

std::unique_ptr<Operator> make_composed_operator(const OperatorOptions& o, Shape4 x,
                                                 const std::vector<uint64_t>& ids, Device device) {
  std::vector<std::unique_ptr<Operator>> stages;
  std::vector<std::string> tasks = o.compose;
  tasks.push_back(o.task);
  for (const auto& t : tasks) {
    OperatorOptions stage = o;
    stage.task = t;
    stage.compose.clear();
    stages.push_back(make_operator(stage, x, ids, device));
    x = stages.back()->measurement_shape();
  }
  return std::make_unique<ComposedOperator>(std::move(stages));
}

}  // namespace reddiff
