#!/usr/bin/env bash
# Restore a whole dataset with RED-diff and score it: every image of DATASET is degraded by TASK's operator
# (reddiff --measure), restored, and compared with the original (PSNR, SSIM on [0, 1]).
#
#   scripts/restore-dataset.sh TASK DATASET RESULTS [reddiff options...]
#   e.g. scripts/restore-dataset.sh inpaint ~/data/ffhq-val results/in-ff --mask freeform --fraction 0.25
#        scripts/restore-dataset.sh sr ~/data/imagenet-val-1k results/sr4 --scale 4 --sigma-y 0.05
#
# DATASET: a folder of images (searched recursively) or a .txt list of image paths.
# RESULTS/restored/      the restored images (sub-folders of DATASET kept, .png)
# RESULTS/measurements/  the measurements y that were restored (phase-retrieval: .npy)
# RESULTS/scores.csv     one row per image: file,status,psnr,ssim,seconds
# RESULTS/report.json    settings, model, device, timings, memory, mean metrics
#
# Running it again resumes: images whose result exists are skipped (and re-scored) unless --overwrite is
# given. Environment: REDDIFF (the binary, default `reddiff` on PATH), BATCH (--batch-size, default 8),
# DEVICE (--device, default auto). Exit status: reddiff's (3 when some images failed; see scores.csv).
set -uo pipefail

if [ $# -lt 3 ]; then
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
task=$1 dataset=$2 results=$3
shift 3
reddiff=${REDDIFF:-reddiff}

mkdir -p "$results" || exit 1
"$reddiff" "$task" --measure \
  --batch-size "${BATCH:-8}" --device "${DEVICE:-auto}" \
  --save-measurement "$results/measurements" \
  --csv "$results/scores.csv" --json "$results/report.json" \
  "$@" "$dataset" "$results/restored"
status=$?

case $status in
  0) echo "done: $results/restored (scores in $results/scores.csv)" ;;
  3) echo "done, but some images failed: grep error $results/scores.csv" >&2 ;;
  *) echo "reddiff failed (exit status $status)" >&2 ;;
esac
exit $status
