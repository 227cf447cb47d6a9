// `reddiff --version`: the version, commit, compiled backends, CPU and CUDA versions, as one text.
#include "tool/version_info.h"

#include "engine/backend.h"
#include "engine/cpu/cpu_info.h"

namespace reddiff {

std::string version_text() {
  std::string t = std::string("reddiff ") + REDDIFF_VERSION + "\n";
  t += std::string("commit: ") + build_commit() + "\n";
#ifdef REDDIFF_HAVE_CUDA
  t += "backends: cpu, cuda\n";
#else
  t += "backends: cpu\n";
#endif
  t += "cpu: " + cpu_model_name() + ", kernels: " + cpu_kernel_set() + "\n";
  t += "cuda: " + cuda_versions() + "\n";
  return t;
}

}  // namespace reddiff
