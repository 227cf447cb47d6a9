#!/usr/bin/env bash
# One GPU session's training of the bundled model: continue it for a few minutes on the picture set, compare
# the validation loss before and after, and leave the new weights and the run's logs in $OUT for fetching back.
#
# On the GPU machine (the device tool's `run`, from the repository root; the set is built beforehand here
# with `training/build_dataset.sh training/data/set1`, 28 MB, and travels as a carried path):
#
#   run  command: training/gpu-session.sh --minutes 7.5     carry: ["training/data/set1"]    timeout_s: 600
#
# Back on the CPU machine, with the folder the files came back to:
#
#   training/gpu-session.sh --collect FILES_DIR [RUN_NAME]
#
# which joins and checks the weights, converts them to models/candidate.safetensors (f16, as the bundled
# model), copies the logs to docs/model-training/RUN_NAME/ and prints the validation verdict. Then evaluate
# the candidate (training/evaluate.py --model models/candidate.safetensors) and, if it is better, replace
# models/reddiff-default.safetensors with it (docs/models.md, "Training in GPU sessions").
#
# Options (session mode):
#   --minutes M   training time (default 7.5: with start-up, validation and saving the command ends within
#                 ~9 minutes, inside the device's 10-minute command limit)
#   --init FILE   weights to continue (default models/reddiff-default.safetensors, the bundled model; the
#                 optimiser state cannot travel, see docs/models.md, so each session restarts AdamW with a
#                 200-step warm-up)
#   --data DIR    the picture set (default training/data/set1)
#   --run NAME    run folder under training/runs (default gpu-session)
#   --dry-run     the whole pipeline on the CPU with a handful of tiny steps (proves it runs end to end)
#   Any other option is passed to training/train.py (e.g. --loss_weight min_snr, --lr 1e-4).
#
# Files left in $OUT (at most 8 files of at most 16 MiB come back): model_ema_f16.pt.part-aa, -ab (the EMA
# weights as an f16 state dict, 18.7 MiB, split in two), run.tar.gz (config.json, train_info.json, loss.csv,
# val.csv, train.log, verdict.txt, sha256.txt).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ "${1:-}" == --collect ]]; then
  src=${2:?usage: $0 --collect FILES_DIR [RUN_NAME]}
  name=${3:-run$(( $(ls -d docs/model-training/run* 2>/dev/null | sed 's/.*run//' | sort -n | tail -1) + 1 ))}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cat "$src"/model_ema_f16.pt.part-* >"$tmp/model_ema_f16.pt"
  tar -xzf "$src/run.tar.gz" -C "$tmp"
  (cd "$tmp" && sha256sum -c --quiet sha256.txt) || { echo "$0: the weights do not match sha256.txt" >&2; exit 1; }
  bin=${REDDIFF:-build/reddiff}
  "$bin" convert "$tmp/model_ema_f16.pt" models/candidate.safetensors --set image_size=256 num_head_channels=64 \
    --dtype f16 --quiet
  mkdir -p "docs/model-training/$name"
  for f in config.json train_info.json loss.csv val.csv train.log verdict.txt; do
    [[ -e "$tmp/$f" ]] && cp "$tmp/$f" "docs/model-training/$name/"
  done
  "$bin" info models/candidate.safetensors | head -5
  cat "$tmp/verdict.txt"
  echo "logs in docs/model-training/$name; weights in models/candidate.safetensors"
  exit 0
fi

minutes=7.5
init=models/reddiff-default.safetensors
data=training/data/set1
run=gpu-session
dry=0
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --init) init=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --run) run=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done
out=${OUT:-$root/training/runs/$run-out}
rundir=training/runs/$run
mkdir -p "$out"
[[ -d "$data/train" ]] || { echo "$0: no picture set at $data (build it: training/build_dataset.sh $data)" >&2; exit 2; }
[[ -e "$init" ]] || { echo "$0: no weights at $init" >&2; exit 2; }
py=${PYTHON:-python3}
"$py" -c "import torch, PIL, numpy" || { echo "$0: $py cannot import torch, PIL and numpy" >&2; exit 1; }
rm -rf "$rundir"
mkdir -p "$rundir"
if [[ $dry == 1 ]]; then
  # Tiny steps on the CPU: small crops, two steps per size, validation and checkpoints included.
  args=(--device cpu --threads 2 --steps 4 --crops 64:2,128:1 --warmup 2 --log_every 2 --val_every 4 --ckpt_every 2)
else
  "$py" -c "import torch; assert torch.cuda.is_available(), 'no GPU'" || { echo "$0: torch sees no GPU" >&2; exit 1; }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  args=(--device cuda --minutes "$minutes" --decay_by_time --crops 128:128,256:32 --lr 2e-4 --warmup 200
        --log_every 200 --val_every 1000 --ckpt_every 2000)
fi
set -o pipefail
PYTHONUNBUFFERED=1 "$py" training/train.py --data "$data" --out "$rundir" --init "$init" --resume no "${args[@]}" \
  "${extra[@]}" 2>&1 | tee "$rundir/train.log"

# Verdict: the EMA validation loss at the end against the start (the initial weights), per crop size.
"$py" - "$rundir" <<'PY' | tee "$rundir/verdict.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/val.csv")))
sizes = sorted(set(int(r["size"]) for r in rows))
better = True
for s in sizes:
    v = [(int(r["step"]), float(r["val_loss"])) for r in rows if int(r["size"]) == s]
    start, end = v[0][1], v[-1][1]
    better &= end < start
    print("val loss (EMA) %dx%d: start %.5f (step %d), end %.5f (step %d), %+.2f%%"
          % (s, s, start, v[0][0], end, v[-1][0], 100 * (end - start) / start))
print("verdict: %s on the validation set" % ("BETTER" if better else "not better"))
PY

# The EMA weights as an f16 state dict (what `reddiff convert --dtype f16` keeps), in parts under 16 MiB.
"$py" - "$rundir" <<'PY'
import sys, torch
sd = torch.load(sys.argv[1] + "/model_ema.pt", map_location="cpu")
torch.save({k: v.half() for k, v in sd.items()}, sys.argv[1] + "/model_ema_f16.pt")
PY
(cd "$rundir" && sha256sum model_ema_f16.pt >sha256.txt)
rm -f "$out"/model_ema_f16.pt.part-*
split -b 15M "$rundir/model_ema_f16.pt" "$out/model_ema_f16.pt.part-"
tar -czf "$out/run.tar.gz" -C "$rundir" config.json train_info.json loss.csv val.csv train.log verdict.txt sha256.txt
ls -l "$out"
