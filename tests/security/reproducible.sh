#!/bin/bash
# The CPU reproducibility guarantee (docs/usage.md, issue 17): a restoration's result does not depend on
# --batch-size, --shard or which images share a batch, bit for bit. Three 32x32 crops of the validation
# photos are restored by the bundled model (`sr --measure`, 100 steps, the preset) two ways: all three in one
# batch (--batch-size 3), and two shards into the same folder, 0/2 with --batch-size 2 (photos 0 and 2 in one
# batch) and 1/2 with --batch-size 1 (photo 1 alone). Every output PNG must be byte-identical between the two,
# and so must every PSNR and SSIM in --csv (4 and 6 decimals: the float result, not only its 8-bit PNG).
# About 25 s under ctest on the shared 2-core AMD EPYC (Zen 4) machine, OMP_WAIT_POLICY=PASSIVE.
#
#   reproducible.sh REDDIFF WORKDIR
#
# Exit: 0 identical, 1 a difference (named).
set -u
RD=${1:?usage: reproducible.sh REDDIFF WORKDIR}
W=${2:?work dir}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$W"
mkdir -p "$W/in"
/usr/bin/python3 - "$SRC/tests/data/val256" "$W/in" <<'EOF' || exit 1
import os, sys
from PIL import Image
src, out = sys.argv[1], sys.argv[2]
photos = sorted(p for p in os.listdir(src) if p.endswith(".png"))[:3]
for i, p in enumerate(photos):
    im = Image.open(os.path.join(src, p)).convert("RGB")
    x, y = im.width // 2 - 16, im.height // 2 - 16  # the middle: texture, not sky
    im.crop((x, y, x + 32, y + 32)).save(os.path.join(out, "photo%d.png" % i))
EOF

run() {  # NAME (the output folder) CSV OPTIONS...
  local name=$1 csv=$2
  shift 2
  "$RD" sr --measure --steps 100 --device cpu -q --csv "$W/$csv.csv" "$@" "$W/in" "$W/$name" 2>"$W/$csv.err" || {
    echo "FAIL: reddiff sr $* failed: $(cat "$W/$csv.err")"
    exit 1
  }
}
start=$(date +%s)
run b3 b3 --batch-size 3
run s2 s2-0 --batch-size 2 --shard 0/2
run s2 s2-1 --batch-size 1 --shard 1/2

# rows sorted by file, without the seconds column
scores() { for f in "$@"; do tail -n +2 "$W/$f.csv"; done | cut -d, -f1-4 | sort; }
status=0
for i in 0 1 2; do
  if ! cmp -s "$W/b3/photo$i.png" "$W/s2/photo$i.png"; then
    echo "FAIL: photo$i.png differs between one batch of 3 and the shards' batches of 2 and 1"
    status=1
  fi
done
if [ "$(scores b3)" != "$(scores s2-0 s2-1)" ]; then
  echo "FAIL: the scores differ between one batch of 3 and the shards' batches of 2 and 1:"
  diff <(scores b3) <(scores s2-0 s2-1)
  status=1
fi
[ "$(scores b3 | grep -c ',ok,')" -eq 3 ] || { echo "FAIL: not three ok rows: $(scores b3)"; status=1; }
echo "reproducible: 3 photos x 100 steps, batches of 3 vs 2+1 in two shards, $(( $(date +%s) - start )) s; $(scores b3 | tr '\n' ' ')"
exit $status
