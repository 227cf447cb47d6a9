#!/usr/bin/env bash
# A Slurm array job restoring a dataset in shards, one GPU per array task by default:
#
#   sbatch --array=0-15 scripts/slurm-array.sh TASK DATASET RESULTS [reddiff options...]
#   scripts/slurm-array.sh --merge RESULTS          # after the array finished: one scores.csv, mean PSNR/SSIM
#
# The #SBATCH lines below ask for one GPU, 8 CPUs and 32 GB a task; options on the sbatch command line win,
# e.g. on a CPU cluster: DEVICE=cpu sbatch --gres=none --cpus-per-task=4 --mem=8G --array=0-15 ...
#
# reddiff reads SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (less SLURM_ARRAY_TASK_MIN) by itself and
# restores the images at positions = task id (mod count) of the sorted file list, so the shards cover every
# image exactly once and a shard always gets the same images. Results are written atomically and existing
# ones are skipped: resubmitting the same array (or single failed tasks, --array=3,7) finishes the job
# without redoing any image. Each task writes RESULTS/scores/shard-ID.csv and RESULTS/reports/shard-ID.json.
#
# Environment (sbatch passes the submitting shell's on): REDDIFF (the binary, default `reddiff` on PATH),
# BATCH (--batch-size, default 8), DEVICE (--device, default auto: the GPU when one is usable, else the CPU),
# OMP_NUM_THREADS (the CPU backend's threads; default the task's SLURM_CPUS_PER_TASK).
# Run without Slurm (no SLURM_ARRAY_* variables), it restores the whole dataset on this machine.
#SBATCH --job-name=reddiff
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=08:00:00
#SBATCH --output=reddiff-%A_%a.log
set -uo pipefail

if [ "${1:-}" = "--merge" ]; then
  results=${2:?usage: slurm-array.sh --merge RESULTS}
  out="$results/scores.csv"
  first=1
  for f in "$results"/scores/shard-*.csv; do
    if [ $first = 1 ]; then head -n 1 "$f" > "$out.tmp"; first=0; fi
    tail -n +2 "$f" >> "$out.tmp"
  done
  [ $first = 0 ] || { echo "no $results/scores/shard-*.csv" >&2; exit 1; }
  mv "$out.tmp" "$out"
  # Mean over the rows with a result (status ok or exists); error statuses are quoted and may hold commas,
  # so only rows whose second field is exactly ok/exists are counted.
  awk -F, 'NR > 1 && ($2 == "ok" || $2 == "exists") && $3 != "" {
             n++; if ($3 != "inf") { p += $3; np++ } s += $4 }
           NR > 1 && $2 != "ok" && $2 != "exists" { bad++ }
           END { printf "%d images restored, %d failed; mean PSNR %.3f dB, mean SSIM %.4f\n",
                        n, bad, np ? p / np : 0, n ? s / n : 0 }' "$out"
  exit 0
fi

if [ $# -lt 3 ]; then
  sed -n '2,/^#SBATCH/{/^#SBATCH/!p}' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
task=$1 dataset=$2 results=$3
shift 3
reddiff=${REDDIFF:-reddiff}
id=${SLURM_ARRAY_TASK_ID:-0}

# Without task/affinity or cgroups a task sees every core of its node: use the CPUs it was given.
if [ -z "${OMP_NUM_THREADS:-}" ] && [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK; fi
mkdir -p "$results/scores" "$results/reports" || exit 1
echo "$(date -Is) host $(hostname) array task $id of ${SLURM_ARRAY_TASK_COUNT:-1}, device ${DEVICE:-auto}, ${OMP_NUM_THREADS:-all} CPU threads"
"$reddiff" "$task" --measure --quiet \
  --batch-size "${BATCH:-8}" --device "${DEVICE:-auto}" \
  --csv "$results/scores/shard-$id.csv" --json "$results/reports/shard-$id.json" \
  "$@" "$dataset" "$results/restored"
status=$?
echo "$(date -Is) exit status $status"
exit $status
