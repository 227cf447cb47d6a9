#!/bin/bash
# Runs the libFuzzer targets of a fuzzing build (fuzz/CMakeLists.txt) on seed corpora from fuzz/seeds.py,
# one target after another, each for a bounded time or number of runs; prints one line per target (runs,
# seconds, corpus) and leaves any reproducer as BUILD_DIR/fuzz-out/crash-<target>-* (crash-, leak-, timeout-, oom-).
#
#   run_fuzz.sh BUILD_DIR [SECONDS] [TARGET...]     (default 20 s each, every target built)
#   FUZZ_RUNS=1000000 run_fuzz.sh BUILD_DIR 0 npy   (a number of runs instead of a time: a campaign;
#                                                    with SECONDS too, whichever bound comes first)
#
# BUILD_DIR: configured with -DREDDIFF_FUZZ=ON -DREDDIFF_SANITIZE=address,undefined (clang; see
# docs/security.md, or tests/security/sanitized_tree.sh build). The corpus grows in BUILD_DIR/fuzz-out/corpus
# across runs. FUZZ_SEEDS=DIR reuses seeds already written by seeds.py.
# Exit: 0 no finding, 1 a crash, leak, timeout or sanitizer report, 77 no fuzz targets in BUILD_DIR.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS] [TARGET...]}" && pwd) || exit 2
SECS=${2:-20}
shift $(( $# >= 2 ? 2 : $# ))
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then  # every target built
  for f in "$BUILD"/fuzz/fuzz_*; do
    [ -x "$f" ] && TARGETS+=("${f##*/fuzz_}")
  done
  [ ${#TARGETS[@]} -eq 0 ] && { echo "run_fuzz: no fuzz targets in $BUILD/fuzz (configure with -DREDDIFF_FUZZ=ON); skipping"; exit 77; }
fi
OUT="$BUILD/fuzz-out"
mkdir -p "$OUT"
for t in "${TARGETS[@]}"; do
  if [ ! -x "$BUILD/fuzz/fuzz_$t" ]; then
    echo "run_fuzz: $BUILD/fuzz/fuzz_$t not built (configure with -DREDDIFF_FUZZ=ON); skipping"
    exit 77
  fi
done

SEEDS=${FUZZ_SEEDS:-$OUT/seeds}
if [ -z "${FUZZ_SEEDS:-}" ]; then
  rm -rf "$SEEDS"
  /usr/bin/python3 "$SRC/fuzz/seeds.py" "$SEEDS" >"$OUT/seeds.log" 2>&1 || { cat "$OUT/seeds.log"; exit 1; }
fi

# Every report is fatal; leaks are reported (libFuzzer checks each input that allocated more than it freed).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export FUZZ_TMPDIR=${FUZZ_TMPDIR:-}
if [ -n "${FUZZ_RUNS:-}" ]; then
  BOUND=(-runs="$FUZZ_RUNS")
  [ "$SECS" != 0 ] && BOUND+=(-max_total_time="$SECS")  # whichever comes first
else
  BOUND=(-max_total_time="$SECS")
fi

status=0
printf "%-12s %10s %8s %8s %10s  %s\n" target runs seconds corpus bytes result
for t in "${TARGETS[@]}"; do
  corpus="$OUT/corpus/$t"
  mkdir -p "$corpus"
  log="$OUT/$t.log"
  start=$(date +%s%N)
  (cd "$OUT" && "$BUILD/fuzz/fuzz_$t" "${BOUND[@]}" -max_len=65536 -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
     -print_final_stats=1 -artifact_prefix="$OUT/crash-$t-" "$corpus" "$SEEDS/$t" >"$log" 2>&1)
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  secs="$((ms / 1000)).$(printf %03d $((ms % 1000)) | cut -c1)"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  result=ok
  if [ $rc -ne 0 ]; then
    result="FOUND (exit $rc): $log"
    status=1
  fi
  printf "%-12s %10s %8s %8s %10s  %s\n" "$t" "${runs:-?}" "$secs" "$files" "$bytes" "$result"
  if [ $rc -ne 0 ]; then
    grep -m1 -A30 "ERROR: \|runtime error\|==ERROR\|deadly signal\|Timeout\|out-of-memory" "$log" | head -40
    ls "$OUT"/crash-"$t"-* 2>/dev/null
  fi
done
exit $status
