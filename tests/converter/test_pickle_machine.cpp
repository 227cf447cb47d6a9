// The restricted unpickler on hand-assembled pickles: what it accepts, and that it refuses the rest
// with one line naming the problem.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "base/error.h"
#include "weights_converter/pickle_machine.h"
#include "weights_converter/state_dict.h"

using reddiff::Error;
using namespace reddiff::pickle;

namespace {

// A tiny pickle assembler.
struct PB {
  std::string b;
  PB& raw(const std::string& s) {
    b += s;
    return *this;
  }
  PB& op(unsigned char c) {
    b.push_back(char(c));
    return *this;
  }
  PB& u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(char((v >> (8 * i)) & 0xff));
    return *this;
  }
  PB& proto(int v) { return op(0x80).op(uint8_t(v)); }
  PB& str(const std::string& s) {
    op('X').u32(uint32_t(s.size()));
    b += s;
    return *this;
  }
  PB& sstr(const std::string& s) {
    op(0x8c).op(uint8_t(s.size()));
    b += s;
    return *this;
  }
  PB& i1(int v) { return op('K').op(uint8_t(v)); }
  PB& i4(int32_t v) { return op('J').u32(uint32_t(v)); }
  PB& global(const std::string& m, const std::string& n) {
    op('c');
    b += m + "\n" + n + "\n";
    return *this;
  }
  PB& mark() { return op('('); }
  PB& tuple() { return op('t'); }
  PB& stop() { return op('.'); }
  // _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
  PB& tensor(const std::string& key, int numel, int offset, std::vector<int> size, std::vector<int> stride,
             const char* type = "FloatStorage") {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    mark().str("storage").global("torch", type).str(key).str("cpu").i4(numel).tuple().op('Q');
    i4(offset);
    mark();
    for (int s : size) i4(s);
    tuple();
    mark();
    for (int s : stride) i4(s);
    tuple();
    op(0x89).global("collections", "OrderedDict").op(')').op('R');
    return tuple().op('R');
  }
};

std::unique_ptr<Unpickled> load(const PB& p) {
  return unpickle(reinterpret_cast<const uint8_t*>(p.b.data()), p.b.size(), "test.pkl");
}

std::string error_of(const PB& p) {
  try {
    load(p);
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK(m.find('\n') == std::string::npos);
    CHECK(e.exit_code() == 2);
    return m;
  }
  FAIL("no error");
  return "";
}

}  // namespace

TEST_CASE("pickle: plain values, memo and containers", "[pickle]") {
  PB p;
  p.proto(2).op('}').op('q').op(0).mark();
  p.str("a").i1(7);
  p.str("b").i4(-5);
  p.str("c").op('G').raw(std::string("\x3f\xf8\0\0\0\0\0\0", 8));              // 1.5 big-endian
  p.str("d").op(0x8a).op(2).op(0xff).op(0x7f);                                 // LONG1 32767
  p.str("e").op(0x8a).op(1).op(0xfe);                                          // LONG1 -2
  p.str("f").op(']').op('r').u32(1000).mark().i1(1).op('N').op(0x88).op('e');  // list via LONG_BINPUT
  p.str("g").op('j').u32(1000);                                                // LONG_BINGET: the same list
  p.str("h").op('C').op(2).raw("hi");                                          // SHORT_BINBYTES
  p.op('u').stop();
  auto u = load(p);
  REQUIRE(u->root->kind == Kind::Dict);
  CHECK(Unpickled::get(u->root, "a")->i == 7);
  CHECK(Unpickled::get(u->root, "b")->i == -5);
  CHECK(Unpickled::get(u->root, "c")->f == 1.5);
  CHECK(Unpickled::get(u->root, "d")->i == 32767);
  CHECK(Unpickled::get(u->root, "e")->i == -2);
  const Value* f = Unpickled::get(u->root, "f");
  REQUIRE(f->kind == Kind::List);
  CHECK(f->items.size() == 3);
  CHECK(Unpickled::get(u->root, "g") == f);
  CHECK(Unpickled::get(u->root, "h")->s == "hi");
  CHECK(u->consumed == p.b.size());
}

TEST_CASE("pickle: protocol 4 framing, MEMOIZE and STACK_GLOBAL", "[pickle]") {
  PB p;
  p.proto(4).op(0x95).raw(std::string(8, '\0'));
  p.sstr("collections").op(0x94).sstr("OrderedDict").op(0x94).op(0x93).op(0x94).op(')').op('R').op(0x94);
  p.sstr("k").op(0x94).op('h').op(0).op('s').stop();  // key "k" -> memo 0 ("collections")
  auto u = load(p);
  REQUIRE(u->root->kind == Kind::Dict);
  CHECK(Unpickled::get(u->root, "k")->s == "collections");
}

TEST_CASE("pickle: tensors, shared storages and parameters", "[pickle]") {
  PB p;
  p.proto(2).global("collections", "OrderedDict").op(')').op('R').mark();
  p.str("w").tensor("0", 10, 2, {2, 3}, {3, 1});
  p.str("b").tensor("0", 10, 8, {2}, {1});
  p.str("p").global("torch._utils", "_rebuild_parameter").mark().tensor("1", 4, 0, {4}, {1}, "HalfStorage");
  p.op(0x88).global("collections", "OrderedDict").op(')').op('R').tuple().op('R');
  p.str("t").global("torch._utils", "_rebuild_tensor_v2").mark();
  p.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").i4(10).tuple().op('Q');
  p.i1(0).mark().i1(3).i1(2).tuple().mark().i1(1).i1(3).tuple().op(0x89).op('N').tuple().op('R');  // transposed view
  p.op('u').op('}').op('b').stop();  // BUILD with an (empty) state: dropped
  auto u = load(p);
  const Value* w = Unpickled::get(u->root, "w");
  REQUIRE(w->kind == Kind::Tensor);
  const TensorRef& tw = u->tensor(w);
  CHECK(tw.storage->key == "0");
  CHECK(tw.offset == 2);
  CHECK(tw.shape == std::vector<int64_t>{2, 3});
  CHECK(tw.contiguous());
  CHECK(tw.extent() == 6);
  const TensorRef& tb = u->tensor(Unpickled::get(u->root, "b"));
  CHECK(tb.offset == 8);
  CHECK(tb.storage->root_numel == 10);
  const TensorRef& tp = u->tensor(Unpickled::get(u->root, "p"));
  CHECK(tp.storage->type == StorageType::F16);
  const TensorRef& tt = u->tensor(Unpickled::get(u->root, "t"));
  CHECK_FALSE(tt.contiguous());
  CHECK(tt.extent() == 2 * 1 + 1 * 3 + 1);

  auto sd = reddiff::select_state_dict(u->root, *u, "");
  CHECK(sd.tensors.size() == 4);
  CHECK(sd.path.empty());
}

TEST_CASE("pickle: a hostile global is refused by name before anything can call it", "[pickle][hostile]") {
  PB p;
  p.proto(2).global("posix", "system").str("touch /tmp/reddiff_should_not_exist").op(0x85).op('R').stop();
  std::string m = error_of(p);
  CHECK(m.find("posix.system") != std::string::npos);
  CHECK(m.find("refusing global") != std::string::npos);

  PB q;
  q.proto(4).sstr("builtins").sstr("eval").op(0x93).sstr("1+1").op(0x85).op('R').stop();
  CHECK(error_of(q).find("builtins.eval") != std::string::npos);

  PB r;  // torch globals outside the allowlist are refused too
  r.proto(2).global("torch", "load").stop();
  CHECK(error_of(r).find("torch.load") != std::string::npos);

  PB s;  // non-printable bytes in a name stay on one line
  s.proto(2).global("evil\rmod", "x\x1by").stop();
  CHECK(error_of(s).find("evil?mod.x?y") != std::string::npos);
}

TEST_CASE("pickle: object-building opcodes and malformed programs are refused", "[pickle][hostile]") {
  for (int opc : {int('i'), int('o'), 0x81, 0x92, 0x82, int('P'), int('I'), int('S'), 0x8f}) {
    PB p;
    p.proto(2).mark().op(uint8_t(opc)).stop();
    INFO("opcode " << int(opc));
    CHECK(error_of(p).find("unsupported pickle opcode") != std::string::npos);
  }
  CHECK(error_of(PB().proto(2).op('}')).find("truncated") != std::string::npos);  // no STOP
  CHECK(error_of(PB().proto(2).op('X').u32(1000).raw("ab")).find("truncated") != std::string::npos);
  CHECK(error_of(PB().proto(2).op('0').stop()).find("underflow") != std::string::npos);
  CHECK(error_of(PB().proto(2).op('h').op(3).stop()).find("memo") != std::string::npos);
  CHECK(error_of(PB().proto(2).op('t').stop()).find("MARK") != std::string::npos);
  CHECK(error_of(PB().proto(6).stop()).find("protocol") != std::string::npos);
  CHECK(error_of(PB().proto(2).op(0x8a).op(9).raw(std::string(9, '\1')).stop()).find("64 bits") != std::string::npos);
  CHECK(error_of(PB().proto(2).op(']').op('}').op('b').stop()).find("BUILD") != std::string::npos);  // BUILD on a list
}

TEST_CASE("pickle: allowlisted callables only with the arguments a state dict uses", "[pickle][hostile]") {
  CHECK(error_of(PB().proto(2).global("collections", "OrderedDict").i1(1).op(0x85).op('R').stop()).find("arguments") !=
        std::string::npos);
  CHECK(error_of(PB().proto(2).global("torch", "FloatStorage").op(')').op('R').stop()).find("refusing to call") !=
        std::string::npos);
  CHECK(error_of(PB().proto(2).str("x").op(')').op('R').stop()).find("REDUCE") != std::string::npos);
  // Negative and absurd sizes, mismatched size/stride, hooks.
  CHECK(error_of(PB().proto(2).tensor("0", 4, 0, {-1}, {1}).stop()).find("invalid") != std::string::npos);
  CHECK(error_of(PB().proto(2).tensor("0", 4, -3, {1}, {1}).stop()).find("offset") != std::string::npos);
  CHECK(error_of(PB().proto(2).tensor("0", 4, 0, {1, 2}, {1}).stop()).find("different lengths") != std::string::npos);
  CHECK(error_of(PB().proto(2).tensor("0", 4, 0, {1 << 30, 1 << 30}, {1, 1}).stop()).find("too large") !=
        std::string::npos);
  // One storage key declared with two different types.
  PB t;
  t.proto(2).mark().tensor("0", 4, 0, {4}, {1}).tensor("0", 4, 0, {4}, {1}, "HalfStorage").tuple().stop();
  CHECK(error_of(t).find("declared twice") != std::string::npos);
  // Persistent ids where none may appear.
  PB q;
  q.proto(2).mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").i1(1).tuple().op('Q').stop();
  UnpickleOptions no_pid;
  no_pid.allow_persistent_ids = false;
  CHECK_THROWS_AS(unpickle(reinterpret_cast<const uint8_t*>(q.b.data()), q.b.size(), "x", no_pid), Error);
  // Persistent id that is not a storage.
  PB r;
  r.proto(2).mark().str("module").str("x").str("0").str("cpu").i1(1).tuple().op('Q').stop();
  CHECK(error_of(r).find("not a storage") != std::string::npos);
}

TEST_CASE("pickle: value count is bounded", "[pickle][hostile]") {
  PB p;
  p.proto(2);
  for (int i = 0; i < 200; ++i) p.op('N');
  p.stop();
  UnpickleOptions small;
  small.max_values = 100;
  CHECK_THROWS_AS(unpickle(reinterpret_cast<const uint8_t*>(p.b.data()), p.b.size(), "x", small), Error);
}

TEST_CASE("state dict selection: nesting, EMA preference, prefixes, cycles", "[pickle][state_dict]") {
  // {'model': {'time_embed.0.weight': T}, 'ema': {...}, 'opt': {'state': {0: {'exp_avg': T}}}}
  auto sd_with = [](PB& p, const std::string& key, const std::string& prefix) {
    p.str(key).op('}').mark().str(prefix + "time_embed.0.weight").tensor(key, 8, 0, {8}, {1}).op('u');
  };
  PB p;
  p.proto(2).op('}').mark();
  sd_with(p, "model", "");
  sd_with(p, "ema", "");
  p.str("opt")
      .op('}')
      .str("state")
      .op('}')
      .i1(0)
      .op('}')
      .str("exp_avg")
      .tensor("z", 3, 0, {3}, {1})
      .op('s')
      .op('s')
      .op('s');
  p.op('u').stop();
  auto u = load(p);
  auto sd = reddiff::select_state_dict(u->root, *u, "");
  CHECK(sd.path == "ema");
  CHECK(sd.note.find("EMA") != std::string::npos);
  CHECK(sd.tensors.size() == 1);
  CHECK(sd.tensors[0].ref->storage->key == "ema");
  CHECK(reddiff::select_state_dict(u->root, *u, "model").path == "model");
  CHECK_THROWS_AS(reddiff::select_state_dict(u->root, *u, "nope"), Error);

  PB q;  // DDP prefix under "state_dict"
  q.proto(2).op('}');
  sd_with(q, "state_dict", "module.");
  q.op('s').stop();
  auto v = load(q);
  auto sd2 = reddiff::select_state_dict(v->root, *v, "");
  CHECK(sd2.path == "state_dict");
  CHECK(sd2.stripped_prefix == "module.");
  CHECK(sd2.tensors[0].name == "time_embed.0.weight");

  PB c;  // a list that contains itself: selection terminates
  c.proto(2).op(']').op('q').op(0).op('h').op(0).op('a').stop();
  auto w = load(c);
  CHECK_THROWS_AS(reddiff::select_state_dict(w->root, *w, ""), Error);

  PB two;  // two non-EMA model dicts with no conventional name: ambiguous
  two.proto(2).op('}').mark();
  sd_with(two, "a", "");
  sd_with(two, "b", "");
  two.op('u').stop();
  auto x = load(two);
  try {
    reddiff::select_state_dict(x->root, *x, "");
    FAIL("expected ambiguity");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("--key") != std::string::npos);
  }
}
