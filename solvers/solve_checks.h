// The checks every solver makes before its first step.
#pragma once
#include <cstddef>

#include "base/tensor.h"
#include "engine/network.h"

namespace reddiff {

// One image id per image, the operator on the network's device, and images with the channels the model
// takes; a reddiff::Error otherwise.
void check_solve_inputs(Network& net, Shape4 x_shape, Device operator_device, size_t image_ids);

}  // namespace reddiff
