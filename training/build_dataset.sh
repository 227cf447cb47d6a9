#!/usr/bin/env bash
# Builds the small natural-image training set for reddiff's bundled model from Debian wallpaper packages.
#
#   training/build_dataset.sh OUTDIR
#
# Needs: apt-get (with package lists: run `apt-get update` first if apt-cache knows none of the packages),
# dpkg-deb, and a python3 with numpy and PIL (Debian: python3-numpy python3-pil; install PIL with
# `apt-get install python3-pil` if `/usr/bin/python3 -c "import PIL"` fails). Set PYTHON to choose the
# interpreter (default /usr/bin/python3 when it imports PIL, else python3). Set DEB_CACHE=DIR to keep the
# downloaded .deb files there and reuse them on the next run (otherwise they go to a temporary directory).
#
# What it does:
#  1. `apt-get download` of the wallpaper packages below (those apt-cache does not know are skipped with a
#     message), `dpkg-deb -x` each into a temporary directory.
#  2. Collects raster images (.jpg/.jpeg/.png/.webp; SVG is skipped) and drops:
#       - previews ("screenshot.*") and tiny images (short side < 512 px);
#       - images with transparency (more than 1% of pixels with alpha < 250: overlay art);
#       - flat vector-style art: more than 50% of pixels with an exactly zero gradient at 256 px, or fewer
#         than 16 distinct 5-bit colours;
#       - duplicates of one picture, keeping the largest (most pixels): identical bytes; the same Plasma
#         wallpaper at several resolutions/aspects (one picture per <name>/contents/images[_dark]); the same
#         file stem with a _WxH / -WxH suffix; and near-identical pictures (16x16 dHash within 12 bits).
#  3. Writes each kept picture downscaled (Lanczos) so its short side is 384 px, as quality-92 JPEG
#     (4:4:4 chroma), into OUTDIR/train or OUTDIR/val. Validation holds out whole pictures, deterministically:
#     picture families (a design's light/dark/colour variants form one family) sorted by sha1(family name) go to
#     val until it has round(10%) of the pictures (at least 1).
#  4. OUTDIR/manifest.tsv: split, file, package, package version, source path, source WxH, output WxH;
#     OUTDIR/skipped.tsv: what was dropped and why; OUTDIR/licenses/<package>.copyright: the packages'
#     copyright files (the wallpapers carry various free licences; keep these next to anything trained on them).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUT=$1
PACKAGES=(plasma-workspace-wallpapers mate-backgrounds ukui-wallpapers lomiri-wallpapers-20.04 gnome-backgrounds)

if [[ -z "${PYTHON:-}" ]]; then
  if /usr/bin/python3 -c "import PIL, numpy" 2>/dev/null; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import PIL, numpy" 2>/dev/null; then
  echo "$0: $PYTHON cannot import PIL and numpy (Debian: apt-get install python3-pil python3-numpy)" >&2
  exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DEBS=${DEB_CACHE:-$WORK/debs}
mkdir -p "$DEBS" "$WORK/x"

for p in "${PACKAGES[@]}"; do
  cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [[ -z "$cand" || "$cand" == "(none)" ]]; then
    echo "skip $p: not known to apt-cache (not in this release, or run apt-get update)"
    continue
  fi
  have=("$DEBS/${p}_"*.deb)
  if [[ -e "${have[0]}" ]]; then
    echo "cached $p: $(basename "${have[0]}")"
    continue
  fi
  echo "download $p $cand"
  if ! (cd "$DEBS" && apt-get download -q "$p" >/dev/null 2>"$WORK/apt.err"); then
    echo "skip $p: apt-get download failed: $(tail -1 "$WORK/apt.err")"
    continue
  fi
done

shopt -s nullglob
debs=("$DEBS"/*.deb)
if [[ ${#debs[@]} -eq 0 ]]; then
  echo "$0: no package could be downloaded" >&2
  exit 1
fi
for d in "${debs[@]}"; do
  pkg=$(dpkg-deb -f "$d" Package)
  ver=$(dpkg-deb -f "$d" Version)
  mkdir -p "$WORK/x/$pkg"
  dpkg-deb -x "$d" "$WORK/x/$pkg"
  echo "$ver" >"$WORK/x/$pkg.version"
done

mkdir -p "$OUT"
rm -rf "$OUT/train" "$OUT/val"
"$PYTHON" - "$WORK/x" "$OUT" <<'PYEOF'
import glob
import hashlib
import os
import re
import shutil
import sys

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None
src_root, out = sys.argv[1], sys.argv[2]
SHORT = 384
EXTS = (".jpg", ".jpeg", ".png", ".webp")

pkgs = sorted(d for d in os.listdir(src_root) if os.path.isdir(os.path.join(src_root, d)))
skipped = []
cands = []
os.makedirs(os.path.join(out, "licenses"), exist_ok=True)
for pkg in pkgs:
    root = os.path.join(src_root, pkg)
    ver = open(os.path.join(src_root, pkg + ".version")).read().strip()
    cp = os.path.join(root, "usr/share/doc", pkg, "copyright")
    if os.path.exists(cp):
        shutil.copyfile(cp, os.path.join(out, "licenses", pkg + ".copyright"))
    for f in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
        if not os.path.isfile(f) or os.path.islink(f):
            continue
        rel = os.path.relpath(f, root)
        low = rel.lower()
        if low.endswith(".svg") or low.endswith(".svgz"):
            skipped.append((pkg, rel, "svg"))
            continue
        if not low.endswith(EXTS):
            continue
        if os.path.basename(low).startswith("screenshot"):
            skipped.append((pkg, rel, "preview"))
            continue
        try:
            im = Image.open(f)
            w, h = im.size
        except Exception as e:  # noqa: BLE001
            skipped.append((pkg, rel, "unreadable: %s" % e))
            continue
        if min(w, h) < 512:
            skipped.append((pkg, rel, "tiny %dx%d" % (w, h)))
            continue
        cands.append({"pkg": pkg, "ver": ver, "rel": rel, "path": f, "w": w, "h": h,
                      "sha": hashlib.sha256(open(f, "rb").read()).hexdigest()})


def analyse(c):
    im = Image.open(c["path"])
    im.load()
    if "A" in im.getbands():
        a = np.asarray(im.getchannel("A"))
        c["transparent"] = float((a < 250).mean())
    else:
        c["transparent"] = 0.0
    rgb = im.convert("RGB")
    s = 256.0 / min(rgb.size)
    small = np.asarray(rgb.resize((max(1, round(rgb.size[0] * s)), max(1, round(rgb.size[1] * s))),
                                  Image.BICUBIC)).astype(np.int16)
    dx = np.abs(np.diff(small, axis=1)).max(-1)[:-1]
    dy = np.abs(np.diff(small, axis=0)).max(-1)[:, :-1]
    c["flat"] = float((np.maximum(dx, dy) == 0).mean())
    q = small // 8
    c["colors"] = int(len(np.unique(q[..., 0] * 1024 + q[..., 1] * 32 + q[..., 2])))
    g = np.asarray(rgb.convert("L").resize((17, 16), Image.BICUBIC)).astype(np.int16)
    c["dhash"] = (g[:, 1:] > g[:, :-1]).reshape(-1)
    c["aspect"] = rgb.size[0] / rgb.size[1]
    return rgb


def group_key(c):
    m = re.match(r"(usr/share/wallpapers/[^/]+)/contents/(images[^/]*)/", c["rel"])
    if m:
        return (c["pkg"], m.group(1), m.group(2))
    d, base = os.path.split(c["rel"])
    stem = os.path.splitext(base)[0]
    stem = re.sub(r"[_-]\d{3,5}x\d{3,5}$", "", stem)
    return (c["pkg"], d, stem)


# 1) identical bytes
by_sha = {}
for c in cands:
    if c["sha"] in by_sha:
        skipped.append((c["pkg"], c["rel"], "identical to " + by_sha[c["sha"]]["rel"]))
    else:
        by_sha[c["sha"]] = c
cands = list(by_sha.values())
# 2) content filters
kept = []
for c in cands:
    analyse(c)
    if c["transparent"] > 0.01:
        skipped.append((c["pkg"], c["rel"], "transparent %.0f%%" % (100 * c["transparent"])))
    elif c["flat"] > 0.5 or c["colors"] < 16:
        skipped.append((c["pkg"], c["rel"], "flat vector-style art (flat %.2f, colours %d)" % (c["flat"], c["colors"])))
    else:
        kept.append(c)
# 3) same picture, several resolutions: keep the most pixels
groups = {}
for c in kept:
    groups.setdefault(group_key(c), []).append(c)
kept = []
for k, g in sorted(groups.items()):
    g.sort(key=lambda c: (-c["w"] * c["h"], c["rel"]))
    kept.append(g[0])
    for c in g[1:]:
        skipped.append((c["pkg"], c["rel"], "same picture as %s (smaller)" % g[0]["rel"]))
# 4) near-identical pictures across names
kept.sort(key=lambda c: (-c["w"] * c["h"], c["pkg"], c["rel"]))
final = []
for c in kept:
    dup = None
    for o in final:
        if abs(np.log(c["aspect"] / o["aspect"])) < 0.05 and int((c["dhash"] != o["dhash"]).sum()) <= 12:
            dup = o
            break
    if dup is not None:
        skipped.append((c["pkg"], c["rel"], "near-duplicate of %s" % dup["rel"]))
    else:
        final.append(c)


def out_name(c):
    short = {"plasma-workspace-wallpapers": "plasma", "mate-backgrounds": "mate", "ukui-wallpapers": "ukui",
             "lomiri-wallpapers-20.04": "lomiri", "gnome-backgrounds": "gnome"}.get(c["pkg"], c["pkg"])
    m = re.match(r"usr/share/wallpapers/([^/]+)/contents/images([^/]*)/", c["rel"])
    if m:  # Plasma: <Name>[_dark]
        rel = m.group(1) + m.group(2)
    else:
        rel = re.sub(r"^usr/share/(backgrounds|wallpapers)/(gnome/|mate/)?", "", c["rel"])
        rel = re.sub(r"[_-]\d{3,5}x\d{3,5}$", "", os.path.splitext(rel)[0]).replace("/", "_")
    return "%s_%s.jpg" % (short, re.sub(r"[^A-Za-z0-9._-]", "_", rel))


def family(name):
    """Light/dark variants of one design share a family; the split keeps families whole."""
    stem = os.path.splitext(name)[0]
    stem = re.sub(r"Ubuntu-Mate-[A-Za-z]+-no-logo$", "Ubuntu-Mate-no-logo", stem)  # colour variants
    return re.sub(r"(_dark|-d|-l|-Dark|-Light)$", "", stem)


for c in final:
    c["name"] = out_name(c)
fams = sorted(set(family(c["name"]) for c in final), key=lambda f: hashlib.sha1(f.encode()).hexdigest())
n_val = max(1, int(round(0.1 * len(final))))
val_fams = set()
n = 0
for f in fams:
    if n >= n_val:
        break
    val_fams.add(f)
    n += sum(1 for c in final if family(c["name"]) == f)
val = set(c["name"] for c in final if family(c["name"]) in val_fams)
for split in ("train", "val"):
    os.makedirs(os.path.join(out, split), exist_ok=True)
rows = []
total = 0
for c in sorted(final, key=lambda c: c["name"]):
    split = "val" if c["name"] in val else "train"
    im = Image.open(c["path"])
    s = SHORT / min(im.size)
    size = (max(SHORT, round(im.size[0] * s)), max(SHORT, round(im.size[1] * s)))
    if im.format == "JPEG":  # DCT-domain pre-shrink, still at least 2x the target
        im.draft("RGB", (2 * size[0], 2 * size[1]))
    im = im.convert("RGB").resize(size, Image.LANCZOS)
    dst = os.path.join(out, split, c["name"])
    im.save(dst, "JPEG", quality=92, subsampling=0, optimize=True)
    total += os.path.getsize(dst)
    rows.append((split, split + "/" + c["name"], c["pkg"], c["ver"], c["rel"], "%dx%d" % (c["w"], c["h"]),
                 "%dx%d" % size))
with open(os.path.join(out, "manifest.tsv"), "w") as f:
    f.write("split\tfile\tpackage\tversion\tsource\tsource_size\tsize\n")
    for r in rows:
        f.write("\t".join(r) + "\n")
with open(os.path.join(out, "skipped.tsv"), "w") as f:
    f.write("package\tsource\treason\n")
    for r in sorted(skipped):
        f.write("\t".join(r) + "\n")
ntr = sum(1 for r in rows if r[0] == "train")
print("dataset: %d pictures (%d train, %d val), %.1f MB of JPEG in %s; %d files skipped (see skipped.tsv)"
      % (len(rows), ntr, len(rows) - ntr, total / 1e6, out, len(skipped)))
for p in pkgs:
    print("  %-30s %d" % (p, sum(1 for r in rows if r[2] == p)))
PYEOF
