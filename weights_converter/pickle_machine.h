// A restricted, non-executing pickle interpreter for PyTorch state dicts.
//
// It turns a pickle (protocol 2-5, the binary opcodes torch emits) into an inert value tree: None, bool,
// int, float, str, bytes, tuple, list, dict, plus two special nodes, Storage (a persistent id naming a
// tensor storage) and Tensor (a torch._utils._rebuild_tensor_v2 call). Nothing from the file is ever
// executed: GLOBAL is resolved against a fixed allowlist (collections.OrderedDict, the torch tensor and
// parameter rebuilders, the torch *Storage types) and any other global is refused with an error that
// names it, before anything could call it. REDUCE is interpreted only for allowlisted callables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/dtype.h"

namespace reddiff::pickle {

// Element types of torch storages (the legacy *Storage class names torch still pickles).
enum class StorageType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };
size_t storage_elem_size(StorageType t);
const char* storage_type_name(StorageType t);         // "float32", "float16", "int64", ...
bool storage_float_dtype(StorageType t, DType* out);  // false for integer and bool storages

// A storage as declared by a persistent id ('storage', <Type>Storage, key, location, numel[, view]).
struct StorageRef {
  std::string key;  // names the zip entry <prefix>/data/<key> or a legacy storage record
  StorageType type = StorageType::F32;
  int64_t numel = 0;       // elements visible through this reference
  int64_t base = 0;        // element offset into the root storage (legacy views; 0 otherwise)
  int64_t root_numel = 0;  // elements of the root storage as declared
};

struct TensorRef {
  const StorageRef* storage = nullptr;
  int64_t offset = 0;  // in elements, relative to the storage reference
  std::vector<int64_t> shape, stride;
  int64_t numel() const;
  bool contiguous() const;  // C order, size-1 dimensions ignored
  // Elements of the storage the tensor spans from its offset (0 for an empty tensor).
  int64_t extent() const;
};

enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

enum class GlobalId {
  OrderedDict,
  RebuildTensorV2,
  RebuildTensor,
  RebuildParameter,
  RebuildParameterWithState,
  RebuildFromTypeV2,
  TensorClass,
  ParameterClass,
  StorageClass,
  CodecsEncode,  // _codecs.encode(str, "latin1"): how protocol 2 pickles bytes; decoded here, inertly
};

struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;              // Int value, Bool 0/1, Global: GlobalId, Storage/Tensor: index into the side tables
  int64_t aux = 0;            // Global StorageClass: StorageType
  double f = 0;               // Float
  std::string s;              // Str (UTF-8), Bytes, Global: "module.name"
  std::vector<Value*> items;  // Tuple, List
  std::vector<std::pair<Value*, Value*>> entries;  // Dict, in insertion order (later duplicates win)
};

// The result of unpickling: owns every value, storage and tensor node.
class Unpickled {
 public:
  Value* root = nullptr;
  size_t consumed = 0;  // bytes up to and including STOP

  const StorageRef& storage(const Value* v) const { return storages_[size_t(v->i)]; }
  const TensorRef& tensor(const Value* v) const { return tensors_[size_t(v->i)]; }
  const std::deque<StorageRef>& storages() const { return storages_; }  // every persistent id, in order
  // Dict lookup by string key (the last entry wins, as in Python); nullptr when absent or not a dict.
  static const Value* get(const Value* dict, const std::string& key);

  // Builders, for readers that synthesise a tree (safetensors input).
  Value* new_value(Kind k);
  Value* new_storage(StorageRef s);
  Value* new_tensor(TensorRef t);  // t.storage must point into this object's storages

 private:
  friend class Machine;
  std::deque<Value> values_;
  std::deque<StorageRef> storages_;
  std::deque<TensorRef> tensors_;
};

struct UnpickleOptions {
  bool allow_persistent_ids = true;  // BINPERSID storages (the main pickle of a checkpoint)
  size_t max_values = 4000000;       // a 645-tensor state dict needs about 15000
};

// Interprets the pickle at data[0, size). `label` names it in error messages ("archive/data.pkl").
// Throws reddiff::Error (exit code 2) on anything it does not accept.
std::unique_ptr<Unpickled> unpickle(const uint8_t* data, size_t size, const std::string& label,
                                    const UnpickleOptions& opts = {});

// Printable, single-line, bounded rendering of a string from a file, for error messages.
std::string printable(const std::string& s, size_t max_len = 80);

}  // namespace reddiff::pickle
