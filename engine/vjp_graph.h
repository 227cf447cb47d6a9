// The vector-Jacobian product of a forward Graph w.r.t. its image input, as more ops on the same Graph:
// append_vjp() adds the backward ops after the forward ones, so that the planner (plan.h) sees one op
// list and keeps exactly the forward activations the backward ops read (GroupNorm inputs and their
// modulations, attention qkv) alive until their last backward reader; everything else is freed as in
// the forward pass. Weights, timesteps and labels are constants (the time embedding path gets no
// backward ops). New externals: g.cot_in (the cotangent of g.out, NCHW f32) and g.grad_x (the gradient
// of g.x_in, NCHW f32); ops [0, g.forward_ops) are the forward pass.
#pragma once
#include "engine/graph.h"

namespace reddiff {

void append_vjp(Graph& g);

}  // namespace reddiff
