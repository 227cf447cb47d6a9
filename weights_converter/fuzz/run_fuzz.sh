#!/bin/bash
# Builds the converter's libFuzzer targets with clang++ (-fsanitize=fuzzer,address,undefined) straight
# from the sources they need, and runs each for a bounded time.
#   usage: run_fuzz.sh [BUILD_DIR] [SECONDS_PER_TARGET] [CHECKPOINT_DIR]
# CHECKPOINT_DIR (optional): torch checkpoints whose data.pkl seed the pickle corpus.
# Exit: 0 no finding, 1 a crash/leak/timeout (the reproducer is left in BUILD_DIR), 77 no clang++/libFuzzer.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-/tmp/reddiff-fuzz}
SECS=${2:-20}
CKPTS=${3:-}
CXX=${FUZZ_CXX:-clang++}
mkdir -p "$OUT"
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "run_fuzz: $CXX not found; skipping"
  exit 77
fi
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$OUT/probe.cpp"
if ! "$CXX" -fsanitize=fuzzer "$OUT/probe.cpp" -o "$OUT/probe" >"$OUT/probe.log" 2>&1; then
  echo "run_fuzz: $CXX cannot link libFuzzer (-fsanitize=fuzzer); skipping"
  exit 77
fi

FLAGS=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$SRC")
build() {  # name sources...
  local name=$1
  shift
  echo "run_fuzz: building $name"
  "$CXX" "${FLAGS[@]}" "$@" -o "$OUT/$name" || { echo "run_fuzz: build of $name failed"; exit 1; }
}
build fuzz_pickle "$SRC/weights_converter/fuzz/fuzz_pickle.cpp" "$SRC/weights_converter/pickle_machine.cpp" \
  "$SRC/weights_converter/state_dict.cpp" "$SRC/weights_converter/config_inference.cpp" "$SRC/engine/model_config.cpp"
build fuzz_safetensors "$SRC/weights_converter/fuzz/fuzz_safetensors.cpp" "$SRC/engine/safetensors.cpp" \
  "$SRC/base/dtype.cpp"

# Seed corpora: small pickles and safetensors files written by Python's standard library (never loaded),
# plus the data.pkl of every generated torch checkpoint.
SEEDS="$OUT/seeds"
rm -rf "$SEEDS"
mkdir -p "$SEEDS/pickle" "$SEEDS/safetensors"
PY=$(command -v python3 || true)
if [ -n "$PY" ]; then
  "$PY" - "$SEEDS" "$CKPTS" <<'PYEOF'
import collections, glob, json, os, pickle, struct, sys, zipfile
seeds, ckpts = sys.argv[1], sys.argv[2]
objs = [{"a": 1, "b": [1.5, None, True], "c": (1, 2, 3)}, collections.OrderedDict(x=b"\x00\xff", y="s" * 300),
        [{"k": -(2 ** 40)}, 2 ** 31, -1]]
for i, o in enumerate(objs):
    for proto in (2, 3, 4, 5):
        open(os.path.join(seeds, "pickle", "py_%d_%d" % (i, proto)), "wb").write(pickle.dumps(o, protocol=proto))
if ckpts and os.path.isdir(ckpts):
    for p in sorted(glob.glob(os.path.join(ckpts, "*.pt"))):
        try:
            with zipfile.ZipFile(p) as z:
                for n in z.namelist():
                    if n.endswith("data.pkl") and z.getinfo(n).file_size < 65536:
                        open(os.path.join(seeds, "pickle", os.path.basename(p)), "wb").write(z.read(n))
        except Exception:
            pass
def st(path, tensors, meta=None):
    h, off, blob = {}, 0, b""
    if meta:
        h["__metadata__"] = meta
    for name, (dt, shape, data) in tensors.items():
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blob += data
    hb = json.dumps(h).encode()
    open(path, "wb").write(struct.pack("<Q", len(hb)) + hb + blob)
st(os.path.join(seeds, "safetensors", "a"), {"w": ("F32", [2, 2], b"\0" * 16), "b": ("F16", [3], b"\1" * 6)},
   {"format": "reddiff", "config": "{}"})
st(os.path.join(seeds, "safetensors", "b"), {"x": ("BF16", [], b"\0\0"), "e": ("F64", [0, 4], b"")})
PYEOF
fi

status=0
for t in fuzz_pickle fuzz_safetensors; do
  corpus="$OUT/corpus_$t"
  mkdir -p "$corpus"
  seeddir="$SEEDS/${t#fuzz_}"
  echo "run_fuzz: running $t for ${SECS}s"
  (cd "$OUT" && ./"$t" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
     -print_final_stats=1 "$corpus" "$seeddir" >"$OUT/$t.log" 2>&1)
  rc=$?
  tail -n 12 "$OUT/$t.log"
  if [ $rc -ne 0 ]; then
    echo "run_fuzz: $t found a problem (exit $rc); see $OUT/$t.log and the crash-* file in $OUT"
    status=1
  fi
done
exit $status
