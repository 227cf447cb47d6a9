// A model bound to a backend: compiles a graph and plan per input shape (once), owns the arena, and
// runs the forward pass without allocating device memory (activations live in the arena, weights and
// workspaces are prepared with the plan).
#pragma once
#include <map>
#include <memory>
#include <tuple>

#include "engine/backend.h"
#include "engine/graph.h"
#include "engine/model.h"
#include "engine/plan.h"

namespace reddiff {

class Network {
 public:
  Network(const Model& model, Backend& backend, DType precision);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // All pointers are on the backend's device. x: NCHW f32 [n, in_ch, h, w]; t: f32 [n] timestep
  // indices; labels: int32 [n] (class-conditional models only, else null); out: NCHW f32 [n, out_ch, h, w].
  void forward(const float* x, const float* t, const int32_t* labels, float* out, int n, int h, int w);
  // TEMP (network VJP stub, to be replaced by the network-VJP branch): forward() that keeps what vjp()
  // needs, and grad_x = J^T cotangent of that forward's output w.r.t. x (cotangent shaped like out).
  void forward_for_vjp(const float* x, const float* t, const int32_t* labels, float* out, int n, int h, int w);
  void vjp(const float* cotangent, float* grad_x);

  struct Compiled {
    Graph graph;
    Plan plan;
    void* arena = nullptr;
    size_t backend_extra_bytes = 0;
  };
  // Builds (or returns) the plan for this shape without running it.
  const Compiled& compile(int n, int h, int w);

  const Model& model() const { return model_; }
  Backend& backend() { return backend_; }
  DType precision() const { return precision_; }
  // Device bytes held: arenas + backend extras + weights.
  size_t device_bytes() const;

 private:
  const Model& model_;
  Backend& backend_;
  DType precision_;
  std::map<std::tuple<int, int, int>, std::unique_ptr<Compiled>> compiled_;
};

}  // namespace reddiff
