// What `reddiff convert` does with a checkpoint before it needs a model config, for the checkpoint fuzz
// targets: open it (format detection, the container, the restricted pickle machine), pick the state dict,
// then check and read every tensor as the converter would (weights_converter/convert.h), up to 1 MiB each.
#pragma once
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "weights_converter/checkpoint.h"
#include "weights_converter/convert.h"
#include "weights_converter/state_dict.h"

namespace reddiff_fuzz {

inline void exercise_checkpoint(const std::string& path) {
  auto ck = reddiff::open_checkpoint(path);
  (void)ck->format();
  (void)ck->detail();
  reddiff::StateDict sd = reddiff::select_state_dict(ck->root(), ck->objects(), "");
  std::vector<float> buf;
  for (const auto& t : sd.tensors) {
    try {
      const reddiff::DType src = reddiff::check_tensor_readable(*ck, t.name, *t.ref);
      const int64_t n = t.ref->numel();
      if (n < 0 || n > (int64_t(1) << 18)) continue;
      buf.resize(size_t(n));
      reddiff::read_tensor(*ck, t.name, *t.ref, src, buf.data(), reddiff::DType::F32);
    } catch (const reddiff::Error&) {  // one bad tensor; the converter would stop, the fuzzer reads the rest
    }
  }
}

}  // namespace reddiff_fuzz
