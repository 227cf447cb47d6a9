#!/bin/bash
# Fault injection against the reddiff tool's batch runs (issue 17, docs/security.md): each case is one ctest
# (label `faults`, tests/security/CMakeLists.txt) and checks that whatever goes wrong, every output file
# is whole (a PNG that decodes to the right size), no temporary file is left behind, and the tool says what
# happened in one line with the documented exit status.
#
#   faults.sh CASE REDDIFF WORKDIR
#
#   kill        a batch run killed with SIGKILL in the middle of an image, then rerun: the rerun completes,
#               every output is whole and the --csv has one row per image, each ok or exists
#   disk-full   the output folder is a tiny tmpfs (mounted here; needs root) that fills up: one line,
#               exit 1, the outputs that fitted whole, no partial file
#   read-only   the output folder is on a read-only file system (root) or not writable (otherwise): one
#               line, exit 2, nothing written, before the model is loaded
#   vanish      an input deleted in the middle of a batch: that image fails with one line naming it, the
#               others are written, exit 3 (some images failed), its --csv row says error
#   concurrent  two runs writing the same output folder at once (--overwrite): both succeed and every
#               output is whole
#
# The images are 64x64 crops of the validation photos, restored by the bundled model on the CPU with a few
# steps (a second or two per image on 2 cores). Exit: 0 pass, 1 fail, 77 skipped (cannot mount).
set -u
CASE=${1:?usage: faults.sh CASE REDDIFF WORKDIR}
RD=${2:?reddiff binary}
W=${3:?work dir}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
MOUNTED=""

cleanup() {
  [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
  return 0
}
trap cleanup EXIT
fail() {
  echo "FAIL ($CASE): $*"
  exit 1
}

rm -rf "$W"
mkdir -p "$W/in"
# N 64x64 PNG crops of the validation photos: in/img0.png ...
make_inputs() {  # N
  "$PY" - "$SRC/tests/data/val256" "$W/in" "$1" <<'EOF' || fail "cannot write the input images"
import os, sys
from PIL import Image
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
photos = sorted(p for p in os.listdir(src) if p.endswith(".png"))
for i in range(n):
    im = Image.open(os.path.join(src, photos[i % len(photos)])).convert("RGB")
    x, y = 37 * i % (im.width - 64), 53 * i % (im.height - 64)
    im.crop((x, y, x + 64, y + 64)).save(os.path.join(out, "img%d.png" % i))
EOF
}
# Every PNG in a folder decodes whole at 64x64, and no other file is there (with "temps", a temporary
# NAME.png.tmpPID of a killed writer may be: SIGKILL can land between its write and its rename; it is never
# read as an output). Prints the number of PNGs.
check_outputs() {  # DIR [temps]
  "$PY" - "$1" "${2:-}" <<'EOF'
import os, re, sys
from PIL import Image
d, n, bad = sys.argv[1], 0, []
for f in sorted(os.listdir(d)):
    p = os.path.join(d, f)
    if sys.argv[2] == "temps" and re.fullmatch(r".*\.png\.tmp[0-9]+", f):
        continue
    if not f.endswith(".png"):
        bad.append(f + ": not an output (a temporary file left behind?)")
        continue
    try:
        with Image.open(p) as im:
            im.load()  # decodes every row: a truncated file raises here
            if im.size != (64, 64):
                bad.append("%s: %dx%d" % (f, im.width, im.height))
    except Exception as e:
        bad.append("%s: %s" % (f, e))
    n += 1
for b in bad:
    print("bad output " + b, file=sys.stderr)
print(n)
sys.exit(1 if bad else 0)
EOF
}
wait_for_file() {  # PATH SECONDS PID
  local t=0
  while [ ! -e "$1" ]; do
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
    t=$((t + 1))
    [ $t -gt $(($2 * 20)) ] && return 1
  done
  return 0
}
# The common options: the bundled model, the CPU, few steps, one image at a time.
OPTS=(--device cpu --threads 1 --steps 6 --batch-size 1 -q)
lines() { grep -c . "$1"; }

case $CASE in
kill)
  make_inputs 4
  "$RD" denoise --measure "${OPTS[@]}" --steps 20 --csv "$W/scores.csv" "$W/in" "$W/out" 2>"$W/err1" &
  pid=$!
  wait_for_file "$W/out/img0.png" 600 $pid || fail "the first output never appeared: $(cat "$W/err1")"
  sleep 0.5  # into the second image
  kill -KILL $pid
  wait $pid 2>/dev/null
  n1=$(check_outputs "$W/out" temps) || fail "after SIGKILL: an output is not whole"
  [ "$n1" -ge 1 ] && [ "$n1" -lt 4 ] || fail "killed after $n1 of 4 outputs: not mid-batch"
  "$RD" denoise --measure "${OPTS[@]}" --steps 20 --csv "$W/scores.csv" "$W/in" "$W/out" 2>"$W/err2" ||
    fail "the rerun failed: $(cat "$W/err2")"
  n2=$(check_outputs "$W/out" temps) || fail "after the rerun: an output is not whole"
  [ "$n2" -eq 4 ] || fail "the rerun left $n2 of 4 outputs"
  "$PY" - "$W/scores.csv" "$n1" <<'EOF' || fail "the CSV is not consistent: $(cat "$W/scores.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
files = sorted(r["file"] for r in rows)
assert files == ["img%d.png" % i for i in range(4)], files
st = [r["status"] for r in rows]
assert st.count("exists") == int(sys.argv[2]) and st.count("ok") == 4 - int(sys.argv[2]), st
assert all(float(r["psnr"]) > 10 for r in rows), rows  # the resumed run scores the existing outputs too
EOF
  echo "faults kill: killed after $n1 of 4 images; the rerun wrote the rest, 4 whole outputs, CSV of 4 rows"
  ;;
disk-full)
  [ "$(id -u)" = 0 ] || { echo "faults disk-full: not root, cannot mount a tmpfs; skipped"; exit 77; }
  make_inputs 6
  mkdir -p "$W/out"
  # 28 KiB: room for about two 64x64 PNG outputs (12 KiB each) and not for six.
  mount -t tmpfs -o size=28k tmpfs "$W/out" 2>"$W/mount.err" || { echo "faults disk-full: cannot mount a tmpfs ($(cat "$W/mount.err")); skipped"; exit 77; }
  MOUNTED="$W/out"
  "$RD" denoise "${OPTS[@]}" "$W/in" "$W/out" 2>"$W/err"
  rc=$?
  [ $rc -eq 1 ] || fail "exit status $rc, expected 1: $(cat "$W/err")"
  [ "$(lines "$W/err")" -eq 1 ] || fail "not one line: $(cat "$W/err")"
  grep -q "No space left on device" "$W/err" || fail "the line does not say the disk is full: $(cat "$W/err")"
  n=$(check_outputs "$W/out") || fail "a partial output in the full folder"
  [ "$n" -lt 6 ] || fail "the tmpfs never filled up ($n outputs)"
  echo "faults disk-full: $n of 6 outputs fitted, whole; then: $(cat "$W/err")"
  ;;
read-only)
  make_inputs 2
  mkdir -p "$W/out"
  if [ "$(id -u)" = 0 ]; then  # root writes through permissions: a read-only mount
    mount -t tmpfs -o size=1m,ro tmpfs "$W/out" 2>"$W/mount.err" || { echo "faults read-only: cannot mount ($(cat "$W/mount.err")); skipped"; exit 77; }
    MOUNTED="$W/out"
  else
    chmod 555 "$W/out"
  fi
  "$RD" denoise "${OPTS[@]}" --model /nonexistent.safetensors "$W/in" "$W/out" 2>"$W/err"
  rc=$?
  [ $rc -eq 2 ] || fail "exit status $rc, expected 2: $(cat "$W/err")"
  [ "$(lines "$W/err")" -eq 1 ] || fail "not one line: $(cat "$W/err")"
  grep -q "out'" "$W/err" || fail "the line does not name the folder: $(cat "$W/err")"
  grep -q "nonexistent" "$W/err" && fail "the model was looked at before the output folder: $(cat "$W/err")"
  [ -z "$(ls -A "$W/out")" ] || fail "something was written: $(ls -A "$W/out")"
  echo "faults read-only: $(cat "$W/err")"
  ;;
vanish)
  make_inputs 3
  "$RD" denoise --measure "${OPTS[@]}" --steps 20 --csv "$W/scores.csv" "$W/in" "$W/out" 2>"$W/err" &
  pid=$!
  wait_for_file "$W/out/img0.png" 600 $pid || fail "the first output never appeared: $(cat "$W/err")"
  rm "$W/in/img2.png"
  wait $pid
  rc=$?
  [ $rc -eq 3 ] || fail "exit status $rc, expected 3 (an image failed): $(cat "$W/err")"
  [ "$(lines "$W/err")" -eq 1 ] && grep -q "img2.png" "$W/err" || fail "not one line naming img2.png: $(cat "$W/err")"
  n=$(check_outputs "$W/out") || fail "an output is not whole"
  [ "$n" -eq 2 ] && [ -e "$W/out/img1.png" ] || fail "$n outputs, expected img0 and img1"
  grep -q '^img2.png,"\?error' "$W/scores.csv" || fail "no error row for img2.png: $(cat "$W/scores.csv")"
  echo "faults vanish: $(cat "$W/err")"
  ;;
concurrent)
  make_inputs 4
  mkdir -p "$W/out"
  "$RD" denoise "${OPTS[@]}" --overwrite "$W/in" "$W/out" 2>"$W/err1" &
  p1=$!
  "$RD" denoise "${OPTS[@]}" --overwrite "$W/in" "$W/out" 2>"$W/err2" &
  p2=$!
  wait $p1 || fail "the first run failed: $(cat "$W/err1")"
  wait $p2 || fail "the second run failed: $(cat "$W/err2")"
  n=$(check_outputs "$W/out") || fail "an output is not whole"
  [ "$n" -eq 4 ] || fail "$n outputs, expected 4"
  # the two runs computed the same images (same seed, same ids): either's file is the other's
  "$RD" denoise "${OPTS[@]}" "$W/in/img3.png" "$W/ref.png" 2>"$W/err3" || fail "the reference run failed: $(cat "$W/err3")"
  cmp -s "$W/ref.png" "$W/out/img3.png" || fail "img3.png differs from a run alone"
  echo "faults concurrent: two runs, 4 whole outputs, identical to a run alone"
  ;;
*)
  echo "faults.sh: unknown case '$CASE' (kill, disk-full, read-only, vanish, concurrent)"
  exit 2
  ;;
esac
exit 0
