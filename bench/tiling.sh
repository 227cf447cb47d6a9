#!/usr/bin/env bash
# Tiled restoration benchmark (issue 16; docs/benchmarks.md, "Large photos: tiling"): seconds per step and
# peak resident memory of `reddiff` on photos of 1024², 2048² and 4096² (scikit-image's astronaut scaled
# up with Lanczos), tiled (256, overlap 64), and untiled where asked; one 256x256 step for the
# "tiles x one tile" comparison; then sr x4 (from 1024²), inpaint and deblur at 4096². Figures come from
# each run's --json (timings.solve_s / steps, memory.host_peak_rss_bytes, tiling.shapes).
#
#   bench/tiling.sh [--reddiff BIN] [--out DIR] [--steps N] [--untiled 1024,2048] [--sizes 1024,2048,4096]
#                   [--big 4096] [--tasks sr,inpaint,deblur]
# (denoise at each of --sizes, tiled, and untiled at --untiled; then each of --tasks at --big, tiled)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${REDDIFF:-$root/build/reddiff}
out=""
steps=1
untiled=1024
sizes=1024,2048,4096
big=4096
tasks=sr,inpaint,deblur
while [ $# -gt 0 ]; do
  case $1 in
    --reddiff) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --untiled) untiled=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --tasks) tasks=$2; shift 2 ;;
    --big) big=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/tiling.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/reddiff-tiling.XXXXXX")
mkdir -p "$out"
model=$root/models/reddiff-default.safetensors

/usr/bin/python3 - "$out" "$sizes,$big" <<'PY'
import sys
from PIL import Image
from skimage import data
out, sizes = sys.argv[1], sorted({int(s) for s in sys.argv[2].split(",")})
a = Image.fromarray(data.astronaut())
a.resize((256, 256), Image.LANCZOS).save(f"{out}/p256.png")
for s in sizes:
    a.resize((s, s), Image.LANCZOS).save(f"{out}/p{s}.png")
PY

row() {  # label json
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
j = json.load(open(path))
steps = j["solver"]["steps"]
sh = j["tiling"]["shapes"][0]
tiles = f"{j['tiling']['tiles_run'] / steps:.0f}" if sh["tiled"] else "-"
print(f"| {label} | {'tiled' if sh['tiled'] else 'untiled'} | {tiles} | "
      f"{j['timings']['solve_s'] / steps:.1f} | {j['memory']['host_peak_rss_bytes'] / 2**20:.0f} | "
      f"{j['images'][0]['psnr']:.2f} |")
PY
}

run() {  # label task tile input extra...
  local label=$1 task=$2 tile=$3 in=$4
  shift 4
  "$bin" "$task" --measure -q --steps "$steps" --model "$model" --tile "$tile" "$@" --json "$out/$label.json" "$in" "$out/$label.png" \
    && row "$label" "$out/$label.json"
}

echo "| run | network | tiles per step (run) | s/step | peak RSS MiB | PSNR dB |"
echo "|---|---|---|---|---|---|"
steps_saved=$steps; steps=2
run denoise-256 denoise off "$out/p256.png"
steps=$steps_saved
IFS=, read -ra S <<< "$sizes"
for s in "${S[@]}"; do
  run "denoise-$s-tiled" denoise 256 "$out/p$s.png"
  if [[ ",$untiled," == *",$s,"* ]]; then run "denoise-$s-untiled" denoise off "$out/p$s.png"; fi
done
IFS=, read -ra T <<< "$tasks"
for t in "${T[@]}"; do
  extra=()
  [ "$t" = sr ] && extra=(--scale 4)
  run "$t-$big-tiled" "$t" 256 "$out/p$big.png" "${extra[@]}"
done
echo "JSON in $out"
