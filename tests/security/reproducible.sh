#!/bin/bash
# The CPU reproducibility guarantee (docs/usage.md, issue 17): a restoration's result does not depend on
# --batch-size, --shard or which images share a batch, bit for bit. Three 32x32 crops of the validation
# photos are restored by the bundled model (`sr --measure`, 100 steps, the preset) three ways: one image per
# batch, all three in one batch, and two shards of batches of two (shard 0/2 restores two images in one
# batch, 1/2 the third alone). Every output PNG must be byte-identical to the first way's, and so must every
# PSNR and SSIM in --csv (4 and 6 decimals: the float result, not only its 8-bit PNG).
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

run() {  # NAME OPTIONS...
  local name=$1
  shift
  "$RD" sr --measure --steps 100 --device cpu -q --csv "$W/$name.csv" "$@" "$W/in" "$W/$name" 2>"$W/$name.err" || {
    echo "FAIL: reddiff sr $* failed: $(cat "$W/$name.err")"
    exit 1
  }
}
start=$(date +%s)
run b1 --batch-size 1
run b3 --batch-size 3
for s in 0 1; do run s2 --batch-size 2 --shard $s/2; done

# rows sorted by file, without the seconds column
scores() { tail -n +2 "$W/$1.csv" | cut -d, -f1-4 | sort; }
status=0
for way in b3 s2; do
  for i in 0 1 2; do
    if ! cmp -s "$W/b1/photo$i.png" "$W/$way/photo$i.png"; then
      echo "FAIL: photo$i.png differs between --batch-size 1 and $way"
      status=1
    fi
  done
  if [ "$(scores b1)" != "$(scores "$way")" ]; then
    echo "FAIL: the scores differ between --batch-size 1 and $way:"
    diff <(scores b1) <(scores "$way")
    status=1
  fi
done
[ "$(scores b1 | grep -c ',ok,')" -eq 3 ] || { echo "FAIL: not three ok rows: $(scores b1)"; status=1; }
echo "reproducible: 3 photos x 100 steps, 3 groupings, $(( $(date +%s) - start )) s; $(scores b1 | tr '\n' ' ')"
exit $status
