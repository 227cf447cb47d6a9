#!/usr/bin/env bash
# CPU forward benchmark (issue 2; docs/benchmarks.md): the FFHQ-256 architecture with random weights at
# 64x64 and 256x256, reddiff's CPU backend next to PyTorch's CPU forward of the same network
# (tests/python/adm_ref.py), equal thread counts, in one run; the bundled model at 256x256 too when the
# file exists. Prints one table; keeps the JSON.
#
#   bench/cpu_forward.sh [--threads N] [--sizes 64,256] [--repeat N] [--reddiff BIN] [--out DIR] [--no-bundled]
#
#   --threads N   threads on both sides (default: all cores); OMP_NUM_THREADS and torch.set_num_threads
#   --reddiff BIN the reddiff executable (default: $REDDIFF, else build/reddiff, else it is built into build/)
#   --out DIR     where the JSON files go (default: a new folder under ${TMPDIR:-/tmp})
# Each size runs reddiff then PyTorch back to back, so both see the same machine load. The header names
# the CPU model, its vector ISA (from /proc/cpuinfo) and the kernel set reddiff chose (reddiff --version).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
threads=$(nproc)
sizes=64,256
repeat=""
bin=${REDDIFF:-}
out=""
bundled=1
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --reddiff) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-bundled) bundled=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cpu_forward.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$bin" ]; then
  for b in "$root/build/reddiff" "$root/build-bench/reddiff"; do
    [ -x "$b" ] && bin=$b && break
  done
fi
if [ -z "$bin" ]; then
  echo "cpu_forward.sh: building reddiff (CPU) into build/" >&2
  cmake -S "$root" -B "$root/build" -DREDDIFF_CUDA=OFF >/dev/null
  cmake --build "$root/build" -j "$(nproc)" --target reddiff >/dev/null
  bin=$root/build/reddiff
fi
py=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch' >/dev/null 2>&1; then py=$(command -v "$p"); break; fi
done
[ -n "$py" ] || { echo "cpu_forward.sh: no python3 with torch found" >&2; exit 1; }
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/reddiff-cpu-bench.XXXXXX")
mkdir -p "$out"
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "ISA: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'sse4_2|avx|avx2|fma|avx512f|avx512bw|avx512_vnni|avx512_bf16|amx_tile|amx_bf16' | paste -sd' ')"
  echo "reddiff kernels: $("$bin" --version | sed -n 's/^cpu: .*kernels: //p')"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo ' (working tree differs)')"
  echo "reddiff: $bin"
  echo "torch: $("$py" -c 'import torch; print(torch.__version__)')"
  echo "threads: $threads on each side"
} | tee "$out/env.txt"

files=()
run_pair() {  # tag size repeat reddiff-arch torch-arch (FROM_JSON: the config reddiff bench wrote)
  local tag=$1 size=$2 rep=$3 arch_r=$4 arch_t=$5
  echo "== $tag ${size}x${size}: reddiff" >&2
  "$bin" bench --arch "$arch_r" --device cpu --threads "$threads" --size "$size" --batch 1 --solver-steps 0 \
    --repeat "$rep" --warmup 1 --max-time 120 --json "$out/reddiff-$tag-$size.json" >/dev/null
  files+=("$out/reddiff-$tag-$size.json")
  [ "$arch_t" = FROM_JSON ] && arch_t="$out/reddiff-$tag-$size.json"
  echo "== $tag ${size}x${size}: PyTorch" >&2
  "$py" "$root/bench/torch_bench.py" --device cpu --threads "$threads" --arch "$arch_t" --size "$size" --batch 1 \
    --methods forward --repeat "$rep" --warmup 1 --max-time 120 --json "$out/torch-$tag-$size.json" >/dev/null
  files+=("$out/torch-$tag-$size.json")
}

IFS=, read -r -a size_list <<<"$sizes"
for s in "${size_list[@]}"; do
  rep=${repeat:-$([ "$s" -le 64 ] && echo 5 || echo 3)}
  run_pair ffhq256 "$s" "$rep" ffhq256 ffhq256
done
default_model=${REDDIFF_MODEL:-$root/models/reddiff-default.safetensors}
if [ $bundled = 1 ] && [ -f "$default_model" ]; then
  run_pair bundled 256 "${repeat:-3}" bundled FROM_JSON
elif [ $bundled = 1 ]; then
  echo "(bundled model $default_model absent: skipped)" | tee -a "$out/env.txt"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/env.txt"
"$py" "$root/bench/plot.py" --table "${files[@]}" | tee "$out/table.txt"
echo "JSON and table: $out"
