#include "solvers/solve_checks.h"

#include <string>

#include "base/error.h"

namespace reddiff {

void check_solve_inputs(Network& net, Shape4 xs, Device operator_device, size_t image_ids) {
  if (image_ids != size_t(xs.n)) throw Error("solver: one image id per image is required", 1);
  if (operator_device != net.backend().device())
    throw Error("solver: the operator and the network are on different devices", 1);
  const int in_c = net.model().config.adm.in_channels;
  if (xs.c != in_c)
    throw Error("the image has " + std::to_string(xs.c) + " channels, the model takes " + std::to_string(in_c));
}

}  // namespace reddiff
