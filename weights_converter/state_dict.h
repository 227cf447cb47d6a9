// Finding the model weights inside a checkpoint's object tree. Checkpoints wrap state dicts in many ways:
// the state dict itself, {"state_dict": sd}, {"model": sd, "ema": sd_ema, "optimizer": ...},
// DDP's "module." key prefix, lists of state dicts. The EMA copy is preferred when there is one.
#pragma once
#include <string>
#include <vector>

#include "weights_converter/pickle_machine.h"

namespace reddiff {

struct StateDictTensor {
  std::string name;  // with any common wrapper prefix ("module.") removed
  const pickle::TensorRef* ref = nullptr;
};

struct StateDict {
  std::string path;                      // where it was found: "" (the top-level object), "ema", "model", "0", "a.b"
  std::string stripped_prefix;           // e.g. "module." ("" when none)
  std::string note;                      // one line saying which dict was chosen and why
  std::vector<StateDictTensor> tensors;  // in file order; later duplicates replace earlier ones
};

// `forced_path` (from --key) picks a dict by its dotted path; empty means choose automatically.
// Throws reddiff::Error listing the candidates when the choice is ambiguous or there are none.
StateDict select_state_dict(const pickle::Value* root, const pickle::Unpickled& objs, const std::string& forced_path);

}  // namespace reddiff
