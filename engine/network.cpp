#include "engine/network.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "base/error.h"
#include "engine/adm_unet.h"
#include "engine/vjp_graph.h"

namespace reddiff {

namespace {

// Off by default on every backend: on the CPU it saves 0.1 % of a forward and costs a copy of the embedding
// weights (docs/benchmarks.md); on CUDA it removes launches but has not passed a gpu-check yet.
bool fuse_embedding_from_env() {
  const char* v = std::getenv("REDDIFF_FUSED_EMBEDDING");
  return v && std::strcmp(v, "1") == 0;
}

}  // namespace

Network::Network(const Model& model, Backend& backend, DType precision)
    : model_(model), backend_(backend), precision_(precision), fuse_embedding_(fuse_embedding_from_env()) {
  if (!backend.supports(precision)) {
    std::string why;
    if (backend.device() == Device::CPU)
      why = precision == DType::BF16 ? " (bf16 on the CPU needs AVX512-BF16 or AMX; f16 needs CUDA)"
                                     : " (f16 needs CUDA)";
    throw Error(std::string("precision ") + dtype_name(precision) + " is not supported by the " + backend.name() +
                " backend" + why);
  }
}

Network::~Network() {
  for (auto& kv : compiled_) {
    if (kv.second->arena) backend_.free(kv.second->arena);
    if (kv.second->graph.derived) backend_.release_weights(*kv.second->graph.derived);
  }
  backend_.release_weights(model_.weights);
}

const Network::Compiled& Network::compile(int n, int h, int w) { return compile_key(n, h, w, false); }

const Network::Compiled& Network::compile_vjp(int n, int h, int w) { return compile_key(n, h, w, true); }

const Network::Compiled& Network::compile_key(int n, int h, int w, bool vjp) {
  auto key = std::make_tuple(n, h, w, vjp);
  auto it = compiled_.find(key);
  if (it != compiled_.end()) return *it->second;
  auto c = std::make_unique<Compiled>();
  c->graph = build_adm_graph(model_.config.adm, model_.weights, n, h, w, precision_, fuse_embedding_);
  if (vjp) append_vjp(c->graph);
  c->plan = make_plan(c->graph);
  c->backend_extra_bytes = backend_.prepare(c->graph, model_.weights);
  c->arena = backend_.alloc(c->plan.arena_bytes);
  return *(compiled_[key] = std::move(c));
}

size_t Network::vjp_device_bytes(int n, int h, int w) {
  const Compiled& c = compile_vjp(n, h, w);
  return c.plan.arena_bytes + c.backend_extra_bytes;
}

size_t Network::device_bytes() const {
  size_t b = backend_.weight_bytes();
  for (const auto& kv : compiled_) b += kv.second->plan.arena_bytes + kv.second->backend_extra_bytes;
  return b;
}

void Network::forward(const float* x, const float* t, const int32_t* labels, float* out, int n, int h, int w) {
  if (model_.config.adm.num_classes > 0 && !labels)
    throw Error("this model is class-conditional: give a class label (--class)");
  const Compiled& c = compile(n, h, w);
  Externals e;
  e.x = x, e.t = t, e.labels = labels, e.out = out;
  run_ops(c, 0, c.graph.ops.size(), e);
}

void Network::forward_for_vjp(const float* x, const float* t, const int32_t* labels, float* out, int n, int h, int w) {
  if (model_.config.adm.num_classes > 0 && !labels)
    throw Error("this model is class-conditional: give a class label (--class)");
  vjp_ready_ = nullptr;
  const Compiled& c = compile_vjp(n, h, w);
  Externals e;
  e.x = x, e.t = t, e.labels = labels, e.out = out;
  run_ops(c, 0, c.graph.forward_ops, e);
  vjp_ready_ = &c;
}

void Network::vjp(const float* cotangent, float* grad_x) {
  if (!vjp_ready_)
    throw Error(
        "vjp: run forward_for_vjp first (once per vjp: the backward pass reuses the memory of what it has read)");
  const Compiled& c = *vjp_ready_;
  vjp_ready_ = nullptr;
  Externals e;
  e.cot = cotangent, e.grad_x = grad_x;
  run_ops(c, c.graph.forward_ops, c.graph.ops.size(), e);
}

void Network::run_ops(const Compiled& c, size_t begin, size_t end, const Externals& e) {
  const Graph& g = c.graph;
  auto tensor = [&](int v) {
    const Value& val = g.value(v);
    Tensor t_;
    t_.dtype = val.dtype;
    t_.device = backend_.device();
    t_.shape = val.shape;
    if (val.kind == ValueKind::Arena)
      t_.data = static_cast<char*>(c.arena) + c.plan.offset[size_t(v)];
    else if (v == g.x_in)
      t_.data = const_cast<float*>(e.x);
    else if (v == g.t_in)
      t_.data = const_cast<float*>(e.t);
    else if (v == g.labels_in)
      t_.data = const_cast<int32_t*>(e.labels);
    else if (v == g.out)
      t_.data = e.out;
    else if (v == g.cot_in)
      t_.data = const_cast<float*>(e.cot);
    else if (v == g.grad_x)
      t_.data = e.grad_x;
    return t_;
  };
  OpTensors ts;
  for (size_t i = begin; i < end; ++i) {
    const Op& op = g.ops[i];
    ts.n_in = int(op.inputs.size());
    for (int k = 0; k < ts.n_in; ++k) ts.in[k] = tensor(op.inputs[size_t(k)]);
    ts.out = tensor(op.output);
    if (!op_times_) {
      backend_.run(g, op, ts);
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    backend_.run(g, op, ts);
    backend_.synchronize();
    std::string kind = op_kind_name(op.kind);
    if (op.kind == OpKind::Conv2d || op.kind == OpKind::Conv2dBackwardData)
      kind += " " + std::to_string(op.kernel) + "x" + std::to_string(op.kernel);
    op_times_->seconds[kind] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++op_times_->ops[kind];
  }
}

}  // namespace reddiff
