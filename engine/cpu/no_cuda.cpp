// Stubs for builds without the CUDA backend (REDDIFF_CUDA=OFF or no toolkit found).
#ifndef REDDIFF_HAVE_CUDA
#include "base/error.h"
#include "engine/backend.h"

namespace reddiff {

std::unique_ptr<Backend> make_cuda_backend(int) {
  throw Error(
      "this reddiff was built without CUDA support (rebuild with -DREDDIFF_CUDA=ON on a machine with the CUDA "
      "toolkit)");
}

bool cuda_available() { return false; }

std::string cuda_versions() { return "not built in (this build is CPU-only; rebuild with -DREDDIFF_CUDA=ON)"; }

}  // namespace reddiff
#endif
