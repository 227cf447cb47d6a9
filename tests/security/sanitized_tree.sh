#!/bin/bash
# The sanitizer build of the CPU test suite and the fuzz targets (docs/security.md), as one second build
# tree compiled once by clang with ASan + UBSan (+ libFuzzer coverage), CUDA off.
#
#   sanitized_tree.sh build SRC DIR [JOBS]   configure and build DIR from the sources in SRC
#   sanitized_tree.sh test DIR               run the CPU tests in DIR: all but quality, evaluate_script, tiling
#                                            (the photo-sized runs), slurm, fresh_machine, bench_tools
#                                            and the slow photo case of cli (cli_sanitize runs the rest)
#
# Every sanitizer report is fatal (-fno-sanitize-recover=all, halt_on_error) and is also written under
# DIR/sanitizer-reports (log_path), so that a report in a child process (the tests run the reddiff
# binaries) fails the run even when the child's exit status is what a test expected. LeakSanitizer is on;
# tests/security/lsan.supp lists the leaks suppressed, each proven to be in a system library.
# Exit: 0 clean, 1 a build failure, a failed test or a report, 77 no clang++ or libFuzzer here.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
cmd=${1:?usage: sanitized_tree.sh build SRC DIR [JOBS] | test DIR}

sanitizer_env() {  # reports dir
  export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:log_path=$1/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$1/ubsan"
  export LSAN_OPTIONS="suppressions=$SRC_ROOT/tests/security/lsan.supp:print_suppressions=0"
}

case $cmd in
build)
  SRC=${2:?source dir}
  DIR=${3:?build dir}
  JOBS=${4:-2}
  if ! command -v clang++ >/dev/null 2>&1; then
    echo "sanitized_tree: no clang++; skipping (apt-get install clang libclang-rt-14-dev libomp-dev)"
    exit 77
  fi
  mkdir -p "$DIR"
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$DIR/probe.cpp"
  if ! clang++ -fsanitize=fuzzer,address,undefined "$DIR/probe.cpp" -o "$DIR/probe" >"$DIR/probe.log" 2>&1; then
    echo "sanitized_tree: clang++ cannot link -fsanitize=fuzzer,address,undefined; skipping (libclang-rt-14-dev)"
    cat "$DIR/probe.log"
    exit 77
  fi
  # -O1 with line tables: the sanitizers' usual trade of speed, compile time and readable stack traces.
  # Warnings are not errors here: the normal (gcc) build enforces them; this tree is for sanitizer reports,
  # and clang warns about things gcc does not.
  cmake -S "$SRC" -B "$DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DREDDIFF_CUDA=OFF -DREDDIFF_WERROR=OFF \
    -DREDDIFF_SANITIZE=address,undefined -DREDDIFF_FUZZ=ON -DBUILD_TESTING=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    >"$DIR/configure.log" 2>&1 || { cat "$DIR/configure.log"; exit 1; }
  start=$(date +%s)
  cmake --build "$DIR" -j"$JOBS" >"$DIR/build.log" 2>&1 || { grep -B2 -A8 "error" "$DIR/build.log" | head -80; exit 1; }
  echo "sanitized_tree: built $DIR in $(( $(date +%s) - start )) s"
  ;;
test)
  DIR=$(cd "${2:?build dir}" && pwd) || exit 1
  if [ ! -f "$DIR/CTestTestfile.cmake" ]; then
    echo "sanitized_tree: $DIR is not built; skipping"
    exit 77
  fi
  # The run must be able to fail: the tests are built (BUILD_TESTING) and instrumented, and a deliberate
  # heap overflow under this environment leaves a report where the run looks for them.
  tests=$(find "$DIR/tests" -name 'test_*' -type f -perm -u+x 2>/dev/null)
  [ -n "$tests" ] || { echo "sanitized_tree: no test binaries in $DIR (configured without -DBUILD_TESTING=ON?)"; exit 1; }
  for t in $tests; do
    nm -C "$t" 2>/dev/null | grep -q __asan_init || { echo "sanitized_tree: $t is not built with AddressSanitizer"; exit 1; }
  done
  probe_reports="$DIR/sanitizer-probe"
  rm -rf "$probe_reports"
  mkdir -p "$probe_reports"
  printf '%s\n' '#include <cstdlib>' \
    'int main(int argc, char**) { int* p = static_cast<int*>(std::malloc(4 * sizeof(int))); p[argc + 3] = 1; int r = p[0]; std::free(p); return r; }' \
    >"$probe_reports/overflow.cpp"
  clang++ -fsanitize=address,undefined -fno-sanitize-recover=all -O1 "$probe_reports/overflow.cpp" -o "$probe_reports/overflow" ||
    { echo "sanitized_tree: cannot build the sanitizer self-check"; exit 1; }
  (sanitizer_env "$probe_reports" && "$probe_reports/overflow" >/dev/null 2>&1)
  cat "$probe_reports"/asan.* "$probe_reports"/ubsan.* 2>/dev/null | grep -q heap-buffer-overflow ||
    { echo "sanitized_tree: a deliberate heap overflow left no report in $probe_reports: reports would go unseen"; exit 1; }
  echo "sanitized_tree: self-check: $(echo "$tests" | wc -w) instrumented test programs; a deliberate overflow is reported"

  reports="$DIR/sanitizer-reports"
  rm -rf "$reports"
  mkdir -p "$reports"
  sanitizer_env "$reports"
  ctest --test-dir "$DIR" --output-on-failure -j1 -E '^(quality|evaluate_script|tiling|ref_tile_photos|cli|slurm|bench_tools|fresh_machine)$'
  rc=$?
  if compgen -G "$reports/*" >/dev/null; then
    echo "sanitized_tree: sanitizer reports:"
    for f in "$reports"/*; do
      echo "---- $f"
      head -c 20000 "$f"
    done
    rc=1
  fi
  exit $rc
  ;;
*)
  echo "usage: sanitized_tree.sh build SRC DIR [JOBS] | test DIR"
  exit 2
  ;;
esac
