// libFuzzer target: the restricted pickle machine, then state-dict selection and config inference on
// whatever tensors it produced. Any input must either parse or throw reddiff::Error; never crash, hang,
// leak or touch memory out of bounds (built with ASan/UBSan: fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "weights_converter/config_inference.h"
#include "weights_converter/pickle_machine.h"
#include "weights_converter/state_dict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  reddiff::pickle::UnpickleOptions opts;
  opts.max_values = 200000;
  try {
    auto u = reddiff::pickle::unpickle(data, size, "fuzz", opts);
    auto sd = reddiff::select_state_dict(u->root, *u, "");
    reddiff::ShapeMap shapes;
    int64_t sum = 0;
    for (const auto& t : sd.tensors) {
      sum += t.ref->numel() + t.ref->extent() + (t.ref->contiguous() ? 1 : 0);
      shapes[t.name] = t.ref->shape;
    }
    auto inf = reddiff::infer_adm_config(shapes);
    inf.cfg.image_size = 1 << 10;
    inf.cfg.attention_resolutions = reddiff::attention_resolutions_for(inf.cfg.image_size, inf.attention_ds);
    inf.cfg.validate();
    (void)reddiff::compare_with_config(shapes, inf.cfg);
    (void)sum;
  } catch (const reddiff::Error&) {}
  return 0;
}
