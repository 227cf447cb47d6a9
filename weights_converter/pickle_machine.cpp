#include "weights_converter/pickle_machine.h"

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "base/error.h"

namespace reddiff::pickle {

size_t storage_elem_size(StorageType t) {
  switch (t) {
    case StorageType::F64:
    case StorageType::I64:
      return 8;
    case StorageType::F32:
    case StorageType::I32:
      return 4;
    case StorageType::F16:
    case StorageType::BF16:
    case StorageType::I16:
      return 2;
    case StorageType::I8:
    case StorageType::U8:
    case StorageType::Bool:
      return 1;
  }
  return 1;
}

const char* storage_type_name(StorageType t) {
  switch (t) {
    case StorageType::F64:
      return "float64";
    case StorageType::F32:
      return "float32";
    case StorageType::F16:
      return "float16";
    case StorageType::BF16:
      return "bfloat16";
    case StorageType::I64:
      return "int64";
    case StorageType::I32:
      return "int32";
    case StorageType::I16:
      return "int16";
    case StorageType::I8:
      return "int8";
    case StorageType::U8:
      return "uint8";
    case StorageType::Bool:
      return "bool";
  }
  return "?";
}

bool storage_float_dtype(StorageType t, DType* out) {
  switch (t) {
    case StorageType::F64:
      *out = DType::F64;
      return true;
    case StorageType::F32:
      *out = DType::F32;
      return true;
    case StorageType::F16:
      *out = DType::F16;
      return true;
    case StorageType::BF16:
      *out = DType::BF16;
      return true;
    default:
      return false;
  }
}

int64_t TensorRef::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // bounded at construction: no overflow
  return n;
}

bool TensorRef::contiguous() const {
  int64_t expect = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    if (shape[k] == 1) continue;
    if (shape[k] == 0) return true;
    if (stride[k] != expect) return false;
    expect *= shape[k];
  }
  return true;
}

int64_t TensorRef::extent() const {
  int64_t e = 1;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 0) return 0;
    e += (shape[k] - 1) * stride[k];  // bounded at construction: no overflow
  }
  return e;
}

const Value* Unpickled::get(const Value* dict, const std::string& key) {
  if (!dict || dict->kind != Kind::Dict) return nullptr;
  for (size_t k = dict->entries.size(); k-- > 0;) {
    const Value* kv = dict->entries[k].first;
    if (kv->kind == Kind::Str && kv->s == key) return dict->entries[k].second;
  }
  return nullptr;
}

Value* Unpickled::new_value(Kind k) {
  values_.emplace_back();
  values_.back().kind = k;
  return &values_.back();
}

Value* Unpickled::new_storage(StorageRef s) {
  Value* v = new_value(Kind::Storage);
  v->i = int64_t(storages_.size());
  storages_.push_back(std::move(s));
  return v;
}

Value* Unpickled::new_tensor(TensorRef t) {
  Value* v = new_value(Kind::Tensor);
  v->i = int64_t(tensors_.size());
  tensors_.push_back(std::move(t));
  return v;
}

std::string printable(const std::string& s, size_t max_len) {
  std::string r;
  for (unsigned char c : s) {
    if (r.size() >= max_len) {
      r += "...";
      break;
    }
    r.push_back(c >= 0x20 && c < 0x7f ? char(c) : '?');
  }
  return r;
}

// ---------------------------------------------------------------- the machine

namespace {

constexpr int64_t kMaxDim = int64_t(1) << 40;       // one dimension or stride
constexpr int64_t kMaxElements = int64_t(1) << 48;  // one tensor or storage
constexpr size_t kMaxDims = 16;
constexpr size_t kMaxGlobalName = 256;

const char* opcode_name(uint8_t op) {
  switch (op) {
    case 'i':
      return "INST";
    case 'o':
      return "OBJ";
    case 0x81:
      return "NEWOBJ";
    case 0x92:
      return "NEWOBJ_EX";
    case 0x82:
      return "EXT1";
    case 0x83:
      return "EXT2";
    case 0x84:
      return "EXT4";
    case 'P':
      return "PERSID";
    case 'g':
      return "GET";
    case 'p':
      return "PUT";
    case 'I':
      return "INT";
    case 'L':
      return "LONG";
    case 'S':
      return "STRING";
    case 'V':
      return "UNICODE";
    case 'F':
      return "FLOAT";
    case 0x8f:
      return "EMPTY_SET";
    case 0x90:
      return "ADDITEMS";
    case 0x91:
      return "FROZENSET";
    case 0x96:
      return "BYTEARRAY8";
    case 0x97:
      return "NEXT_BUFFER";
    case 0x98:
      return "READONLY_BUFFER";
    default:
      return nullptr;
  }
}

// Code points U+0000..U+00FF (as UTF-8) to bytes; anything else is not what protocol 2 writes.
std::string latin1_from_utf8(const std::string& s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) {
    unsigned char c = static_cast<unsigned char>(s[k]);
    if (c < 0x80) {
      out.push_back(char(c));
    } else if ((c == 0xC2 || c == 0xC3) && k + 1 < s.size() && (static_cast<unsigned char>(s[k + 1]) & 0xC0) == 0x80) {
      out.push_back(char(((c & 0x03) << 6) | (static_cast<unsigned char>(s[k + 1]) & 0x3F)));
      ++k;
    } else {
      throw Error("pickle: _codecs.encode of a string outside latin-1");
    }
  }
  return out;
}

}  // namespace

class Machine {
 public:
  Machine(const uint8_t* data, size_t size, const std::string& label, const UnpickleOptions& opts, Unpickled& out)
      : p_(data), n_(size), label_(label), opts_(opts), out_(out) {}

  void run();

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(label_ + ": " + msg + " (pickle byte " + std::to_string(op_pos_) + ")");
  }
  void need(size_t k) {
    if (n_ - pos_ < k)
      throw Error(label_ + ": pickle is truncated (needs " + std::to_string(k) + " more bytes at byte " +
                  std::to_string(pos_) + ")");
  }
  uint8_t u8() {
    need(1);
    return p_[pos_++];
  }
  uint64_t uint_le(size_t k) {
    need(k);
    uint64_t v = 0;
    for (size_t j = 0; j < k; ++j) v |= uint64_t(p_[pos_ + j]) << (8 * j);
    pos_ += k;
    return v;
  }
  std::string bytes(uint64_t len) {
    if (len > n_ - pos_)
      throw Error(label_ + ": pickle is truncated (a " + std::to_string(len) + "-byte string at byte " +
                  std::to_string(op_pos_) + " runs past the end)");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += size_t(len);
    return s;
  }
  std::string line() {
    size_t start = pos_;
    while (pos_ < n_ && p_[pos_] != '\n') {
      if (pos_ - start > kMaxGlobalName) fail("GLOBAL name is too long");
      ++pos_;
    }
    if (pos_ >= n_) need(1);
    std::string s(reinterpret_cast<const char*>(p_ + start), pos_ - start);
    ++pos_;
    return s;
  }

  Value* make(Kind k) {
    if (out_.values_.size() >= opts_.max_values) fail("too many objects in the pickle");
    out_.values_.emplace_back();
    Value* v = &out_.values_.back();
    v->kind = k;
    return v;
  }
  Value* make_int(int64_t i) {
    Value* v = make(Kind::Int);
    v->i = i;
    return v;
  }
  Value* make_str(Kind k, std::string s) {
    Value* v = make(k);
    v->s = std::move(s);
    return v;
  }

  void push(Value* v) {
    if (stack_.size() >= opts_.max_values) fail("pickle stack too deep");
    stack_.push_back(v);
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Value* pop() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value* top() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::vector<Value*> pop_mark() {
    if (marks_.empty()) fail("pickle MARK missing");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value*> items(stack_.begin() + std::ptrdiff_t(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void memo_put(uint64_t idx) {
    if (stack_.empty()) fail("memo PUT on an empty stack");
    if (memo_.size() >= opts_.max_values && !memo_.count(idx)) fail("pickle memo too large");
    memo_[idx] = stack_.back();
  }
  Value* memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("pickle memo index " + std::to_string(idx) + " was never stored");
    return it->second;
  }

  Value* global(const std::string& module, const std::string& name);
  Value* reduce(Value* callable, Value* args);
  Value* call(GlobalId id, const std::string& display, const std::vector<Value*>& a);
  Value* rebuild_tensor(const std::vector<Value*>& a, bool v2);
  Value* persistent_load(Value* pid);

  int64_t as_int(const Value* v, const char* what) {
    if (v->kind != Kind::Int && v->kind != Kind::Bool) fail(std::string(what) + " is not an integer");
    return v->i;
  }
  std::vector<int64_t> as_dims(const Value* v, const char* what) {
    if (v->kind != Kind::Tuple && v->kind != Kind::List) fail(std::string(what) + " is not a tuple");
    if (v->items.size() > kMaxDims) fail(std::string(what) + " has too many dimensions");
    std::vector<int64_t> d;
    for (const Value* x : v->items) {
      int64_t k = as_int(x, what);
      if (k < 0 || k > kMaxDim) fail(std::string(what) + " has an invalid entry " + std::to_string(k));
      d.push_back(k);
    }
    return d;
  }

  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0, op_pos_ = 0;
  std::string label_;
  UnpickleOptions opts_;
  Unpickled& out_;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value*> memo_;
  // Storages declared so far, by key: every reference to one key must agree on type and root size.
  std::unordered_map<std::string, std::pair<StorageType, int64_t>> declared_;
};

Value* Machine::global(const std::string& module, const std::string& name) {
  struct Entry {
    const char* module;
    const char* name;
    GlobalId id;
    StorageType st;
  };
  static const Entry allow[] = {
      {"collections", "OrderedDict", GlobalId::OrderedDict, StorageType::F32},
      {"torch._utils", "_rebuild_tensor_v2", GlobalId::RebuildTensorV2, StorageType::F32},
      {"torch._utils", "_rebuild_tensor", GlobalId::RebuildTensor, StorageType::F32},
      {"torch._utils", "_rebuild_parameter", GlobalId::RebuildParameter, StorageType::F32},
      {"torch._utils", "_rebuild_parameter_with_state", GlobalId::RebuildParameterWithState, StorageType::F32},
      {"torch._tensor", "_rebuild_from_type_v2", GlobalId::RebuildFromTypeV2, StorageType::F32},
      {"torch", "Tensor", GlobalId::TensorClass, StorageType::F32},
      {"torch.nn.parameter", "Parameter", GlobalId::ParameterClass, StorageType::F32},
      {"torch", "DoubleStorage", GlobalId::StorageClass, StorageType::F64},
      {"torch", "FloatStorage", GlobalId::StorageClass, StorageType::F32},
      {"torch", "HalfStorage", GlobalId::StorageClass, StorageType::F16},
      {"torch", "BFloat16Storage", GlobalId::StorageClass, StorageType::BF16},
      {"torch", "LongStorage", GlobalId::StorageClass, StorageType::I64},
      {"torch", "IntStorage", GlobalId::StorageClass, StorageType::I32},
      {"torch", "ShortStorage", GlobalId::StorageClass, StorageType::I16},
      {"torch", "CharStorage", GlobalId::StorageClass, StorageType::I8},
      {"torch", "ByteStorage", GlobalId::StorageClass, StorageType::U8},
      {"torch", "BoolStorage", GlobalId::StorageClass, StorageType::Bool},
      {"_codecs", "encode", GlobalId::CodecsEncode, StorageType::F32},
  };
  for (const auto& e : allow) {
    if (module == e.module && name == e.name) {
      Value* v = make_str(Kind::Global, module + "." + name);
      v->i = int64_t(e.id);
      v->aux = int64_t(e.st);
      return v;
    }
  }
  fail("refusing global '" + printable(module, 60) + "." + printable(name, 60) +
       "': a state dict never needs it (only torch tensor/storage rebuilders and collections.OrderedDict are "
       "allowed; nothing from the file was executed)");
}

Value* Machine::persistent_load(Value* pid) {
  if (!opts_.allow_persistent_ids) fail("unexpected persistent id in this pickle");
  if (pid->kind != Kind::Tuple || (pid->items.size() != 5 && pid->items.size() != 6))
    fail("persistent id is not a ('storage', type, key, location, numel) tuple");
  const auto& it = pid->items;
  if (it[0]->kind != Kind::Str || it[0]->s != "storage") fail("persistent id is not a storage");
  if (it[1]->kind != Kind::Global || GlobalId(it[1]->i) != GlobalId::StorageClass)
    fail("persistent id names no torch storage type");
  if (it[2]->kind != Kind::Str && it[2]->kind != Kind::Int) fail("storage key is not a string");
  if (it[3]->kind != Kind::Str) fail("storage location is not a string");
  StorageRef s;
  s.key = it[2]->kind == Kind::Str ? it[2]->s : std::to_string(it[2]->i);
  if (s.key.empty() || s.key.size() > 64) fail("storage key has an invalid length");
  s.type = StorageType(it[1]->aux);
  s.root_numel = as_int(it[4], "storage size");
  if (s.root_numel < 0 || s.root_numel > kMaxElements) fail("storage size is invalid");
  s.numel = s.root_numel;
  if (it.size() == 6 && it[5]->kind != Kind::None) {  // legacy view: (view_key, offset, view_size)
    const Value* vm = it[5];
    if (vm->kind != Kind::Tuple || vm->items.size() != 3) fail("storage view metadata is malformed");
    s.base = as_int(vm->items[1], "storage view offset");
    s.numel = as_int(vm->items[2], "storage view size");
    if (s.base < 0 || s.numel < 0 || s.base > s.root_numel || s.numel > s.root_numel - s.base)
      fail("storage view lies outside its storage");
  }
  auto d = declared_.find(s.key);
  if (d == declared_.end()) {
    declared_[s.key] = {s.type, s.root_numel};
  } else if (d->second.first != s.type || d->second.second != s.root_numel) {
    fail("storage '" + printable(s.key) + "' is declared twice with different types or sizes");
  }
  Value* v = make(Kind::Storage);
  v->i = int64_t(out_.storages_.size());
  out_.storages_.push_back(std::move(s));
  return v;
}

Value* Machine::rebuild_tensor(const std::vector<Value*>& a, bool v2) {
  // v2: (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  // v1: (storage, storage_offset, size, stride)
  if (v2 ? (a.size() != 6 && a.size() != 7) : a.size() != 4) fail("tensor rebuild has the wrong number of arguments");
  if (a[0]->kind != Kind::Storage) fail("tensor rebuild without a storage");
  TensorRef t;
  t.storage = &out_.storages_[size_t(a[0]->i)];
  t.offset = as_int(a[1], "storage offset");
  if (t.offset < 0 || t.offset > kMaxElements) fail("tensor storage offset is invalid");
  t.shape = as_dims(a[2], "tensor size");
  t.stride = as_dims(a[3], "tensor stride");
  if (t.shape.size() != t.stride.size()) fail("tensor size and stride have different lengths");
  int64_t numel = 1, extent = 1;
  for (size_t k = 0; k < t.shape.size(); ++k) {
    if (t.shape[k] > 1 && numel > kMaxElements / t.shape[k]) fail("tensor is too large");
    if (t.shape[k] > 1) numel *= t.shape[k];
    if (t.shape[k] > 1 && t.stride[k] > (kMaxElements - extent) / (t.shape[k] - 1))
      fail("tensor strides are too large");
    if (t.shape[k] > 1) extent += (t.shape[k] - 1) * t.stride[k];
  }
  if (v2) {
    if (a[4]->kind != Kind::Bool && a[4]->kind != Kind::Int) fail("tensor requires_grad is not a bool");
    if (a[5]->kind == Kind::Dict) {
      if (!a[5]->entries.empty()) fail("tensor carries backward hooks");
    } else if (a[5]->kind != Kind::None) {
      fail("tensor backward_hooks is not a dict");
    }
  }
  Value* v = make(Kind::Tensor);
  v->i = int64_t(out_.tensors_.size());
  out_.tensors_.push_back(std::move(t));
  return v;
}

Value* Machine::call(GlobalId id, const std::string& display, const std::vector<Value*>& a) {
  switch (id) {
    case GlobalId::OrderedDict:
      if (!a.empty()) fail("collections.OrderedDict called with arguments");
      return make(Kind::Dict);
    case GlobalId::RebuildTensorV2:
      return rebuild_tensor(a, true);
    case GlobalId::RebuildTensor:
      return rebuild_tensor(a, false);
    case GlobalId::RebuildParameter:
    case GlobalId::RebuildParameterWithState:
      // (data, requires_grad, backward_hooks[, state]): the parameter is its data tensor.
      if (a.size() != (id == GlobalId::RebuildParameter ? 3u : 4u))
        fail(display + " has the wrong number of arguments");
      if (a[0]->kind != Kind::Tensor) fail(display + " without a tensor");
      if (a[2]->kind == Kind::Dict && !a[2]->entries.empty()) fail("parameter carries backward hooks");
      return a[0];
    case GlobalId::RebuildFromTypeV2: {
      // (func, type, args, state): a tensor subclass; only plain Tensor and Parameter are accepted.
      if (a.size() != 4) fail(display + " has the wrong number of arguments");
      if (a[0]->kind != Kind::Global || a[1]->kind != Kind::Global || a[2]->kind != Kind::Tuple)
        fail(display + " has malformed arguments");
      GlobalId f = GlobalId(a[0]->i), ty = GlobalId(a[1]->i);
      if (ty != GlobalId::TensorClass && ty != GlobalId::ParameterClass)
        fail("tensor subclass " + a[1]->s + " is not supported");
      if (f != GlobalId::RebuildTensorV2 && f != GlobalId::RebuildTensor && f != GlobalId::RebuildParameter &&
          f != GlobalId::RebuildParameterWithState)
        fail(display + " with function " + a[0]->s + " is not supported");
      return call(f, a[0]->s, a[2]->items);
    }
    case GlobalId::CodecsEncode: {
      // Protocol 2 writes bytes b as _codecs.encode(b.decode("latin1"), "latin1"): undo that in place.
      if (a.size() != 2 || a[0]->kind != Kind::Str || a[1]->kind != Kind::Str ||
          (a[1]->s != "latin1" && a[1]->s != "latin-1"))
        fail("_codecs.encode is accepted only as protocol 2 writes bytes");
      return make_str(Kind::Bytes, latin1_from_utf8(a[0]->s));
    }
    case GlobalId::TensorClass:
    case GlobalId::ParameterClass:
    case GlobalId::StorageClass:
      fail("refusing to call '" + display + "'");
  }
  fail("refusing to call '" + display + "'");
}

Value* Machine::reduce(Value* callable, Value* args) {
  if (callable->kind != Kind::Global) fail("REDUCE on something that is not an allowed global");
  if (args->kind != Kind::Tuple) fail("REDUCE arguments are not a tuple");
  return call(GlobalId(callable->i), callable->s, args->items);
}

void Machine::run() {
  for (;;) {
    op_pos_ = pos_;
    uint8_t op = u8();
    switch (op) {
      case 0x80: {  // PROTO
        uint8_t v = u8();
        if (v < 2 || v > 5) fail("unsupported pickle protocol " + std::to_string(v));
        break;
      }
      case 0x95:
        uint_le(8);
        break;     // FRAME: a length hint only
      case '.': {  // STOP
        if (stack_.empty()) fail("pickle STOP with an empty stack");
        out_.root = stack_.back();
        out_.consumed = pos_;
        return;
      }
      case '(':
        marks_.push_back(stack_.size());
        break;  // MARK
      case '0':
        pop();
        break;  // POP
      case '1':
        pop_mark();
        break;  // POP_MARK
      case '2':
        push(top());
        break;  // DUP
      case 'N':
        push(make(Kind::None));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE / NEWFALSE
        Value* v = make(Kind::Bool);
        v->i = op == 0x88;
        push(v);
        break;
      }
      case 'J':
        push(make_int(int32_t(uint32_t(uint_le(4)))));
        break;  // BININT
      case 'K':
        push(make_int(int64_t(uint_le(1))));
        break;  // BININT1
      case 'M':
        push(make_int(int64_t(uint_le(2))));
        break;  // BININT2
      case 0x8a:
      case 0x8b: {  // LONG1 / LONG4
        uint64_t len = op == 0x8a ? uint_le(1) : uint_le(4);
        if (len > 8) fail("integer wider than 64 bits");
        need(size_t(len));
        uint64_t v = 0;
        for (size_t j = 0; j < len; ++j) v |= uint64_t(p_[pos_ + j]) << (8 * j);
        if (len > 0 && len < 8 && (p_[pos_ + len - 1] & 0x80)) v |= ~uint64_t(0) << (8 * len);  // sign-extend
        pos_ += size_t(len);
        push(make_int(int64_t(v)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        need(8);
        uint64_t b = 0;
        for (int j = 0; j < 8; ++j) b = (b << 8) | p_[pos_ + size_t(j)];
        pos_ += 8;
        Value* v = make(Kind::Float);
        std::memcpy(&v->f, &b, 8);
        push(v);
        break;
      }
      case 'X':
        push(make_str(Kind::Str, bytes(uint_le(4))));
        break;  // BINUNICODE
      case 0x8c:
        push(make_str(Kind::Str, bytes(uint_le(1))));
        break;  // SHORT_BINUNICODE
      case 0x8d:
        push(make_str(Kind::Str, bytes(uint_le(8))));
        break;     // BINUNICODE8
      case 'T': {  // BINSTRING (python 2 str)
        int32_t len = int32_t(uint32_t(uint_le(4)));
        if (len < 0) fail("negative string length");
        push(make_str(Kind::Str, bytes(uint64_t(len))));
        break;
      }
      case 'U':
        push(make_str(Kind::Str, bytes(uint_le(1))));
        break;  // SHORT_BINSTRING
      case 'B':
        push(make_str(Kind::Bytes, bytes(uint_le(4))));
        break;  // BINBYTES
      case 'C':
        push(make_str(Kind::Bytes, bytes(uint_le(1))));
        break;  // SHORT_BINBYTES
      case 0x8e:
        push(make_str(Kind::Bytes, bytes(uint_le(8))));
        break;  // BINBYTES8
      case ')':
        push(make(Kind::Tuple));
        break;     // EMPTY_TUPLE
      case 't': {  // TUPLE
        Value* v = make(Kind::Tuple);
        v->items = pop_mark();
        push(v);
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        size_t k = size_t(op - 0x84);
        Value* v = make(Kind::Tuple);
        v->items.resize(k);
        for (size_t j = k; j-- > 0;) v->items[j] = pop();
        push(v);
        break;
      }
      case ']':
        push(make(Kind::List));
        break;     // EMPTY_LIST
      case 'l': {  // LIST
        Value* v = make(Kind::List);
        v->items = pop_mark();
        push(v);
        break;
      }
      case 'a': {  // APPEND
        Value* x = pop();
        Value* l = top();
        if (l->kind != Kind::List) fail("APPEND to something that is not a list");
        l->items.push_back(x);
        break;
      }
      case 'e': {  // APPENDS
        auto xs = pop_mark();
        Value* l = top();
        if (l->kind != Kind::List) fail("APPENDS to something that is not a list");
        l->items.insert(l->items.end(), xs.begin(), xs.end());
        break;
      }
      case '}':
        push(make(Kind::Dict));
        break;     // EMPTY_DICT
      case 'd': {  // DICT
        auto xs = pop_mark();
        if (xs.size() % 2) fail("DICT with an odd number of items");
        Value* v = make(Kind::Dict);
        for (size_t j = 0; j < xs.size(); j += 2) v->entries.emplace_back(xs[j], xs[j + 1]);
        push(v);
        break;
      }
      case 's': {  // SETITEM
        Value* val = pop();
        Value* key = pop();
        Value* d = top();
        if (d->kind != Kind::Dict) fail("SETITEM on something that is not a dict");
        d->entries.emplace_back(key, val);
        break;
      }
      case 'u': {  // SETITEMS
        auto xs = pop_mark();
        if (xs.size() % 2) fail("SETITEMS with an odd number of items");
        Value* d = top();
        if (d->kind != Kind::Dict) fail("SETITEMS on something that is not a dict");
        for (size_t j = 0; j < xs.size(); j += 2) d->entries.emplace_back(xs[j], xs[j + 1]);
        break;
      }
      case 'c': {  // GLOBAL
        std::string module = line();
        std::string name = line();
        push(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Value* name = pop();
        Value* module = pop();
        if (name->kind != Kind::Str || module->kind != Kind::Str) fail("STACK_GLOBAL names are not strings");
        push(global(module->s, name->s));
        break;
      }
      case 'R': {  // REDUCE
        Value* args = pop();
        Value* callable = pop();
        push(reduce(callable, args));
        break;
      }
      case 'b': {  // BUILD: the state (e.g. a state dict's _metadata) is inert; it is dropped
        Value* state = pop();
        (void)state;
        Value* target = top();
        if (target->kind != Kind::Dict && target->kind != Kind::Tensor)
          fail("BUILD on an object that is not a dict or tensor");
        break;
      }
      case 'Q':
        push(persistent_load(pop()));
        break;  // BINPERSID
      case 'h':
        push(memo_get(uint_le(1)));
        break;  // BINGET
      case 'j':
        push(memo_get(uint_le(4)));
        break;  // LONG_BINGET
      case 'q':
        memo_put(uint_le(1));
        break;  // BINPUT
      case 'r':
        memo_put(uint_le(4));
        break;  // LONG_BINPUT
      case 0x94:
        memo_put(uint64_t(memo_.size()));
        break;  // MEMOIZE
      default: {
        const char* nm = opcode_name(op);
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("unsupported pickle opcode ") + (nm ? nm : hex) + (nm ? std::string(" (") + hex + ")" : "") +
             " (a state dict never needs it)");
      }
    }
  }
}

std::unique_ptr<Unpickled> unpickle(const uint8_t* data, size_t size, const std::string& label,
                                    const UnpickleOptions& opts) {
  auto out = std::make_unique<Unpickled>();
  Machine m(data, size, label, opts, *out);
  m.run();
  return out;
}

}  // namespace reddiff::pickle
