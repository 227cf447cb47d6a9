// A composition of operators, y = A_K(...A_2(A_1(x))) (the official code's "deg1-deg2" strings):
// apply in order, pinv in reverse order, and the VJP by the chain rule through the stored intermediates.
// Works on either device through the stages' own methods; its buffers come from the stages' backend. The
// data-term gradient is OperatorBase's: apply, subtract y, VJP.
#include <string>
#include <vector>

#include "operators/op_impl.h"

namespace reddiff {

namespace {

class ComposedOperator : public OperatorBase {
 public:
  ComposedOperator(std::vector<std::unique_ptr<Operator>> stages, Backend& b)
      : OperatorBase(stages.front()->input_shape(), stages.back()->measurement_shape(), b), stages_(std::move(stages)) {
    for (size_t k = 0; k + 1 < stages_.size(); ++k) {
      size_t bytes = size_t(stages_[k]->measurement_shape().numel()) * sizeof(float);
      z_.emplace_back(b, bytes);
      g_.emplace_back(b, bytes);
    }
  }

  std::string describe() const override {
    std::string s;
    for (const auto& st : stages_) s += (s.empty() ? "" : ", then ") + st->describe();
    return s;
  }
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

 private:
  // z_[k] = stage k's output, for every stage but the last.
  void forward(const float* x, void* s) const {
    for (size_t k = 0; k + 1 < stages_.size(); ++k) stages_[k]->apply(stage_input(k, x), z_[k].as<float>(), s);
  }
  const float* stage_input(size_t k, const float* x) const { return k == 0 ? x : z_[k - 1].as<float>(); }

  std::vector<std::unique_ptr<Operator>> stages_;
  std::vector<DeviceBuffer> z_, g_;
};

}  // namespace

std::unique_ptr<Operator> make_composed_operator(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                                 Backend& backend) {
  std::vector<std::unique_ptr<Operator>> stages;
  std::vector<std::string> tasks = o.compose;
  tasks.push_back(o.task);
  for (const auto& t : tasks) {
    OperatorOptions stage = o;
    stage.task = t;
    stage.compose.clear();
    stages.push_back(make_operator(stage, x, ids, backend));
    x = stages.back()->measurement_shape();
  }
  return std::make_unique<ComposedOperator>(std::move(stages), backend);
}

}  // namespace reddiff
