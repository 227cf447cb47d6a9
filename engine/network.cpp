#include "engine/network.h"

#include "engine/adm_unet.h"
#include "engine/error.h"

namespace reddiff {

Network::Network(const Model& model, Backend& backend, DType precision)
    : model_(model), backend_(backend), precision_(precision) {
  if (!backend.supports(precision))
    throw Error(std::string("precision ") + dtype_name(precision) + " is not supported by the " + backend.name() + " backend");
}

Network::~Network() {
  for (auto& kv : compiled_)
    if (kv.second->arena) backend_.free(kv.second->arena);
  backend_.release_weights(model_.weights);
}

const Network::Compiled& Network::compile(int n, int h, int w) {
  auto key = std::make_tuple(n, h, w);
  auto it = compiled_.find(key);
  if (it != compiled_.end()) return *it->second;
  auto c = std::make_unique<Compiled>();
  c->graph = build_adm_graph(model_.config.adm, model_.weights, n, h, w, precision_);
  c->plan = make_plan(c->graph);
  c->backend_extra_bytes = backend_.prepare(c->graph, model_.weights);
  c->arena = backend_.alloc(c->plan.arena_bytes);
  return *(compiled_[key] = std::move(c));
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
  const Graph& g = c.graph;
  auto tensor = [&](int v) {
    const Value& val = g.value(v);
    Tensor t_;
    t_.dtype = val.dtype;
    t_.device = backend_.device();
    t_.shape = val.shape;
    if (val.kind == ValueKind::Arena) t_.data = static_cast<char*>(c.arena) + c.plan.offset[size_t(v)];
    else if (v == g.x_in) t_.data = const_cast<float*>(x);
    else if (v == g.t_in) t_.data = const_cast<float*>(t);
    else if (v == g.labels_in) t_.data = const_cast<int32_t*>(labels);
    else if (v == g.out) t_.data = out;
    return t_;
  };
  OpTensors ts;
  for (const Op& op : g.ops) {
    ts.n_in = int(op.inputs.size());
    for (int i = 0; i < ts.n_in; ++i) ts.in[i] = tensor(op.inputs[size_t(i)]);
    ts.out = tensor(op.output);
    backend_.run(g, op, ts);
  }
}

// TEMP: network VJP stub. The network-VJP branch replaces these two definitions.
void Network::forward_for_vjp(const float*, const float*, const int32_t*, float*, int, int, int) {
  throw Error("the network VJP is not built yet");
}
void Network::vjp(const float*, float*) { throw Error("the network VJP is not built yet"); }

}  // namespace reddiff
