// A model bound to a backend: compiles a graph and plan per input shape (once), owns the arena, and
// runs the forward pass without allocating device memory (activations live in the arena, weights and
// workspaces are prepared with the plan).
#pragma once
#include <map>
#include <memory>
#include <string>
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

  // Vector-Jacobian product w.r.t. x (engine/vjp_graph.h); weights, timesteps and labels are constants.
  // forward_for_vjp: the same forward pass (same arguments and output as forward()) that also keeps, in a
  // plan of its own per shape, every activation the backward ops read.
  void forward_for_vjp(const float* x, const float* t, const int32_t* labels, float* out, int n, int h, int w);
  // After forward_for_vjp with the same n, h, w: grad_x = J^T cotangent. cotangent: NCHW f32 [n, out_ch, h, w]
  // (device pointer, like out); grad_x: NCHW f32 [n, in_ch, h, w]. One vjp per forward_for_vjp (the
  // backward ops reuse the memory of the activations they have read); throws otherwise.
  void vjp(const float* cotangent, float* grad_x);
  // Device bytes of the VJP plan for this shape (its arena + backend extras), compiling it if needed.
  size_t vjp_device_bytes(int n, int h, int w);

  struct Compiled {
    Graph graph;
    Plan plan;
    void* arena = nullptr;
    size_t backend_extra_bytes = 0;
  };
  // Builds (or returns) the plan for this shape without running it.
  const Compiled& compile(int n, int h, int w);
  // The forward + backward graph and plan of forward_for_vjp / vjp for this shape.
  const Compiled& compile_vjp(int n, int h, int w);

  const Model& model() const { return model_; }
  Backend& backend() { return backend_; }
  DType precision() const { return precision_; }
  // Whether the graphs stack the ResBlocks' time-embedding linears into one (build_adm_graph's
  // fuse_embedding): only with REDDIFF_FUSED_EMBEDDING=1, on any backend. Off by default: on the CPU it gains
  // 0.1 % of a forward for a copy of those weights; on CUDA, where it removes launches, it stays opt-in
  // until a scripts/gpu-check has passed on it (docs/gpu-validation.md).
  bool fuse_embedding() const { return fuse_embedding_; }
  // Device bytes held: arenas + backend extras + weights.
  size_t device_bytes() const;

  // Where a forward's time goes (reddiff bench --op-times): while set, every op is followed by a device
  // synchronisation and its wall time is added under its kind ("conv2d 3x3", "group_norm", "linear", ...).
  // The synchronisations change what they measure on a GPU (no overlap between ops); on the CPU they cost
  // nothing. nullptr (the default) turns it off.
  struct OpTimes {
    std::map<std::string, double> seconds;  // by op kind
    std::map<std::string, int> ops;         // how many ops of that kind ran
  };
  void set_op_times(OpTimes* t) { op_times_ = t; }

 private:
  const Model& model_;
  Backend& backend_;
  DType precision_;
  bool fuse_embedding_;
  // Runs ops [begin, end) of c with the externals bound to these pointers.
  struct Externals {
    const float* x = nullptr;
    const float* t = nullptr;
    const int32_t* labels = nullptr;
    float* out = nullptr;
    const float* cot = nullptr;
    float* grad_x = nullptr;
  };
  void run_ops(const Compiled& c, size_t begin, size_t end, const Externals& e);
  const Compiled& compile_key(int n, int h, int w, bool vjp);

  // key: (n, h, w, vjp)
  std::map<std::tuple<int, int, int, bool>, std::unique_ptr<Compiled>> compiled_;
  const Compiled* vjp_ready_ = nullptr;  // the VJP plan whose forward part ran last, until its vjp runs
  OpTimes* op_times_ = nullptr;          // set_op_times
};

}  // namespace reddiff
