#!/usr/bin/env python3
"""Builds the training and validation pictures for reddiff's bundled model from Debian packages.

    python3 training/build_dataset.py OUTDIR [--cache DIR] [--max-mb 28]     (training/build_dataset.sh runs it)

Packages (TRAIN_PACKAGES below; licences in docs/models.md): desktop wallpapers with photographs and
artwork, photographic ground textures of a game, paper textures, satellite maps of the Earth and the
planets, and the landscape panoramas of a planetarium. The held-out evaluation pictures come from other
packages (training/build_heldout.py checks that the two lists never meet).

What it does:
  1. Fetches the packages (training/debs.py: `apt-get download`, cached in --cache) and collects their
     raster images (.jpg/.jpeg/.png/.webp under usr/share, not icons, documentation or previews).
  2. Cuts transparent images (panorama segments whose sky is transparent) to their largest fully opaque
     band of rows, and drops: pictures whose short side is under 256 px; grey pictures; flat vector-style
     art (more than 50% of pixels with an exactly zero gradient at 256 px, or fewer than 16 distinct 5-bit
     colours); and duplicates of one picture, keeping the one with the most pixels (identical bytes, one
     picture per Plasma <name>/contents/images[_dark], the same stem with a _WxH suffix, near-identical
     pictures by a 16x16 dHash within 12 bits).
  3. Splits whole pictures into train and val. The eight validation pictures of the first bundled model
     (tests/data/val256) stay in val and every picture it was trained on stays in train; of the pictures
     from packages added since, picture families (light/dark/colour variants of a design are one family)
     sorted by sha1(family) go to val until val holds 10% of them.
  4. Writes each picture scaled (Lanczos) so its short side is 384 px (or its own short side when smaller:
     nothing is enlarged), and for training pictures also 384 x 384 tiles of the picture scaled to a short
     side of 768 and 1536 px (where the source has that many pixels): the same scene at two and four times
     the detail. Tiles that are nearly flat are dropped; when the set would exceed --max-mb, the least
     detailed tiles are dropped first (the whole pictures are always kept). The size limit exists because
     the set travels to a GPU machine with the repository (64 MiB in all). Files are quality-90 JPEG with
     4:4:4 chroma.
  5. OUTDIR/manifest.tsv (split, file, package, version, source, source WxH, scale short side, tile box,
     output WxH), OUTDIR/skipped.tsv (what was dropped and why), OUTDIR/licenses/PACKAGE.copyright.
"""
import argparse
import glob
import hashlib
import io
import os
import re
import shutil
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import debs  # noqa: E402

Image.MAX_IMAGE_PIXELS = None
# package: (short name for file names, kind)
TRAIN_PACKAGES = {
    "plasma-workspace-wallpapers": ("plasma", "wallpapers (KDE)"),
    "mate-backgrounds": ("mate", "wallpapers (MATE)"),
    "ukui-wallpapers": ("ukui", "wallpapers (UKUI)"),
    "lomiri-wallpapers-20.04": ("lomiri", "wallpapers (Lomiri)"),
    "gnome-backgrounds": ("gnome", "wallpapers (GNOME)"),
    "lomiri-wallpapers-16.04": ("lomiri16", "photographic wallpapers (Lomiri / Ubuntu Touch 16.04)"),
    "extremetuxracer-data": ("etr", "photographic ground textures and sky boxes (game data)"),
    "mypaint-data-extras": ("mypaint", "paper and canvas textures"),
    "xplanet-images": ("xplanet", "satellite maps of the Earth"),
    "gpredict": ("gpredict", "NASA Blue Marble satellite maps"),
    "stellarium-data": ("stellarium", "landscape panoramas, planetary surface maps"),
}
ORIGINAL = ["plasma-workspace-wallpapers", "mate-backgrounds", "ukui-wallpapers", "lomiri-wallpapers-20.04",
            "gnome-backgrounds"]  # the first model's packages: their split is frozen
# Families of the first model's validation pictures (tests/data/val256): always val.
PINNED_VAL = {"mate_desktop_Float-into-MATE", "mate_nature_Storm", "mate_nature_TwoWings", "plasma_Patak",
              "plasma_Shell", "ukui_calla", "ukui_goldfish"}
SHORT = 384
TILE = 384
LEVELS = (768, 1536)
MIN_SHORT = 256
EXTS = (".jpg", ".jpeg", ".png", ".webp")
# Only these paths of a package (regular expressions on the path inside it); packages not listed: all of usr/share.
ONLY = {
    # the landscape panoramas and the surface maps of the Earth, the Moon and the planets (no asteroid models,
    # normal maps, sky or splash images)
    "stellarium-data": r"usr/share/stellarium/(landscapes/|textures/(earthmap|earth_cmap|moon_4k|mars|jupiter|venus|"
                       r"mercury|io|europa|ganymede|callisto|triton)\.)",
    "extremetuxracer-data": r"usr/share/games/etr/(terrains|env|textures)/",
}
SKIP_DIRS = ("usr/share/doc/", "usr/share/icons/", "/icons/", "/previews/", "usr/share/stellarium/nebulae/",
             "usr/share/stellarium/skycultures/", "usr/share/stellarium/scenery3d/", "/logos/")


def opaque_band(im):
    """Largest band of rows (then columns) where every pixel has alpha >= 250, or None when all opaque."""
    if "A" not in im.getbands() and not (im.mode == "P" and "transparency" in im.info):
        return None
    a = np.asarray(im.convert("RGBA").getchannel("A")) >= 250
    if a.all():
        return None

    def longest(ok):
        best, start, run = (0, 0), None, 0
        for i, v in enumerate(list(ok) + [False]):
            if v and start is None:
                start = i
            if not v and start is not None:
                if i - start > best[1] - best[0]:
                    best = (start, i)
                start = None
        return best

    r0, r1 = longest(a.all(axis=1))
    if r1 <= r0:
        return (0, 0, 0, 0)
    c0, c1 = longest(a[r0:r1].all(axis=0))
    return (c0, r0, c1, r1)


def analyse(rgb):
    s = 256.0 / min(rgb.size)
    small = np.asarray(rgb.resize((max(1, round(rgb.size[0] * s)), max(1, round(rgb.size[1] * s))),
                                  Image.BICUBIC)).astype(np.int16)
    dx = np.abs(np.diff(small, axis=1)).max(-1)[:-1]
    dy = np.abs(np.diff(small, axis=0)).max(-1)[:, :-1]
    flat = float((np.maximum(dx, dy) == 0).mean())
    q = small // 8
    colors = int(len(np.unique(q[..., 0] * 1024 + q[..., 1] * 32 + q[..., 2])))
    chroma = float(np.abs(small - small.mean(-1, keepdims=True)).mean())
    g = np.asarray(rgb.convert("L").resize((17, 16), Image.BICUBIC)).astype(np.int16)
    return {"flat": flat, "colors": colors, "chroma": chroma, "dhash": (g[:, 1:] > g[:, :-1]).reshape(-1),
            "aspect": rgb.size[0] / rgb.size[1]}


def detail(arr):
    """Mean absolute gradient of the luma (8-bit units): how much a tile has to learn from."""
    y = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())


def group_key(c):
    m = re.match(r"(usr/share/wallpapers/[^/]+)/contents/(images[^/]*)/", c["rel"])
    if m:
        return (c["pkg"], m.group(1), m.group(2))
    d, base = os.path.split(c["rel"])
    stem = re.sub(r"[_-]\d{3,5}x\d{3,5}$", "", os.path.splitext(base)[0])
    stem = re.sub(r"_\d{3,4}$", "", stem)  # gpredict's nasa-topo_1024 / _2048
    return (c["pkg"], d, stem)


def out_name(c):
    short = TRAIN_PACKAGES[c["pkg"]][0]
    m = re.match(r"usr/share/wallpapers/([^/]+)/contents/images([^/]*)/", c["rel"])
    if m:  # Plasma: <Name>[_dark]
        rel = m.group(1) + m.group(2)
    else:
        rel = re.sub(r"^usr/share/(backgrounds|wallpapers|games/etr|stellarium|pixmaps/gpredict|xplanet|mypaint)/"
                     r"(gnome/|mate/)?", "", c["rel"])
        rel = re.sub(r"[_-]\d{3,5}x\d{3,5}$", "", os.path.splitext(rel)[0]).replace("/", "_")
    return "%s_%s" % (short, re.sub(r"[^A-Za-z0-9._-]", "_", rel))


def family(name):
    """Light/dark variants of one design share a family; the split keeps families whole."""
    stem = re.sub(r"Ubuntu-Mate-[A-Za-z]+-no-logo$", "Ubuntu-Mate-no-logo", name)  # colour variants
    return re.sub(r"(_dark|-d|-l|-Dark|-Light)$", "", stem)


def scaled(im, short):
    s = short / min(im.size)
    size = (max(short, round(im.size[0] * s)), max(short, round(im.size[1] * s)))
    return im.resize(size, Image.LANCZOS)


def jpeg_bytes(im):
    b = io.BytesIO()
    im.save(b, "JPEG", quality=90, subsampling=0, optimize=True)
    return b.getvalue()


def collect(unpacked, skipped):
    cands = []
    for pkg in sorted(unpacked):
        root = unpacked[pkg].root
        for f in sorted(glob.glob(os.path.join(root, "usr/share", "**", "*"), recursive=True)):
            if not os.path.isfile(f) or os.path.islink(f):
                continue
            rel = os.path.relpath(f, root)
            low = rel.lower()
            if not low.endswith(EXTS) or any(s in low for s in SKIP_DIRS):
                continue
            if pkg in ONLY and not re.match(ONLY[pkg], rel):
                continue
            if os.path.basename(low).startswith(("screenshot", "preview")):
                skipped.append((pkg, rel, "preview"))
                continue
            try:
                with Image.open(f) as im:
                    w, h = im.size
            except Exception as e:  # noqa: BLE001
                skipped.append((pkg, rel, "unreadable: %s" % e))
                continue
            if min(w, h) < MIN_SHORT:
                skipped.append((pkg, rel, "small %dx%d" % (w, h)))
                continue
            cands.append({"pkg": pkg, "ver": unpacked[pkg].version, "rel": rel, "path": f, "w": w, "h": h,
                          "sha": hashlib.sha256(open(f, "rb").read()).hexdigest()})
    return cands


def load_rgb(c):
    im = Image.open(c["path"])
    im.load()
    box = c.get("box")
    if im.mode in ("L", "LA", "I", "I;16", "1") and not c.get("grey_source"):
        return None
    if box:
        im = im.convert("RGBA").crop(box)
    return im.convert("RGB")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--cache", default=os.path.join(HERE, "data", "debs"), help="where the .deb files are kept")
    ap.add_argument("--max-mb", type=float, default=28.0, help="size limit of the written set (MB)")
    ap.add_argument("--packages", default="", help="comma-separated subset of the training packages (tests)")
    a = ap.parse_args(argv)
    pkgs = a.packages.split(",") if a.packages else list(TRAIN_PACKAGES)
    unpacked, cleanup = debs.fetch(pkgs, a.cache)
    try:
        if not unpacked:
            raise SystemExit("no package could be fetched")
        return build(a, unpacked)
    finally:
        cleanup()


def build(a, unpacked):
    out = a.out
    skipped = []
    os.makedirs(os.path.join(out, "licenses"), exist_ok=True)
    for p, u in unpacked.items():
        if os.path.exists(u.copyright):
            shutil.copyfile(u.copyright, os.path.join(out, "licenses", p + ".copyright"))
    cands = collect(unpacked, skipped)
    # 1) identical bytes
    by_sha = {}
    for c in cands:
        if c["sha"] in by_sha:
            skipped.append((c["pkg"], c["rel"], "identical to " + by_sha[c["sha"]]["rel"]))
        else:
            by_sha[c["sha"]] = c
    # 2) transparency, grey, flat art
    kept = []
    for c in by_sha.values():
        im = Image.open(c["path"])
        band = opaque_band(im)
        if band is not None:
            w, h = band[2] - band[0], band[3] - band[1]
            if min(w, h) < MIN_SHORT:
                skipped.append((c["pkg"], c["rel"], "transparent (opaque band %dx%d)" % (w, h)))
                continue
            c["box"], c["w"], c["h"] = band, w, h
        rgb = load_rgb(c)
        if rgb is None and c["pkg"] in ORIGINAL:  # the first model trained on it: keep it
            c["grey_source"] = True
            rgb = load_rgb(c)
        if rgb is None:
            skipped.append((c["pkg"], c["rel"], "grey (%s)" % im.mode))
            continue
        c.update(analyse(rgb))
        if c["chroma"] < 1.0 and c["pkg"] not in ORIGINAL:  # (the first model trained on two grey ones)
            skipped.append((c["pkg"], c["rel"], "grey (colour spread %.2f)" % c["chroma"]))
        elif c["flat"] > 0.5 or c["colors"] < 16:
            skipped.append((c["pkg"], c["rel"], "flat vector-style art (flat %.2f, colours %d)" % (c["flat"], c["colors"])))
        else:
            kept.append(c)
    # 3) same picture at several resolutions: keep the most pixels
    groups = {}
    for c in kept:
        groups.setdefault(group_key(c), []).append(c)
    kept = []
    for _, g in sorted(groups.items()):
        g.sort(key=lambda c: (-c["w"] * c["h"], c["rel"]))
        kept.append(g[0])
        for c in g[1:]:
            skipped.append((c["pkg"], c["rel"], "same picture as %s (smaller)" % g[0]["rel"]))
    # 4) near-identical pictures across names
    kept.sort(key=lambda c: (-c["w"] * c["h"], c["pkg"], c["rel"]))
    final = []
    for c in kept:
        dup = next((o for o in final if abs(np.log(c["aspect"] / o["aspect"])) < 0.05
                    and int((c["dhash"] != o["dhash"]).sum()) <= 12), None)
        if dup is not None:
            skipped.append((c["pkg"], c["rel"], "near-duplicate of %s" % dup["rel"]))
        else:
            final.append(c)
    # split
    for c in final:
        c["name"] = out_name(c)
        c["family"] = family(c["name"])
    new = [c for c in final if c["pkg"] not in ORIGINAL]
    fams = sorted(set(c["family"] for c in new), key=lambda f: hashlib.sha1(f.encode()).hexdigest())
    val_fams = set(PINNED_VAL)
    n, n_val = 0, max(1, int(round(0.1 * len(new)))) if new else 0
    for f in fams:
        if n >= n_val:
            break
        val_fams.add(f)
        n += sum(1 for c in new if c["family"] == f)
    for c in final:
        c["split"] = "val" if c["family"] in val_fams else "train"
    # write: whole pictures, then tiles within the size limit
    for split in ("train", "val"):
        shutil.rmtree(os.path.join(out, split), ignore_errors=True)
        os.makedirs(os.path.join(out, split))
    rows, tiles = [], []
    total = 0
    for c in sorted(final, key=lambda c: c["name"]):
        rgb = load_rgb(c)
        whole = scaled(rgb, min(SHORT, min(rgb.size)))
        data = jpeg_bytes(whole)
        f = "%s/%s.jpg" % (c["split"], c["name"])
        open(os.path.join(out, f), "wb").write(data)
        total += len(data)
        rows.append((c["split"], f, c["pkg"], c["ver"], c["rel"], "%dx%d" % (c["w"], c["h"]), str(min(whole.size)),
                     "", "%dx%d" % whole.size))
        if c["split"] != "train":
            continue
        for level in LEVELS:
            if min(rgb.size) < level:
                break
            big = scaled(rgb, level)
            W, H = big.size
            nx, ny = W // TILE, H // TILE
            x0, y0 = (W - nx * TILE) // 2, (H - ny * TILE) // 2
            arr = np.asarray(big)
            for r in range(ny):
                for q in range(nx):
                    box = (x0 + q * TILE, y0 + r * TILE, x0 + (q + 1) * TILE, y0 + (r + 1) * TILE)
                    t = arr[box[1]:box[3], box[0]:box[2]]
                    d = detail(t)
                    name = "%s~s%d_r%dc%d" % (c["name"], level, r, q)
                    if d < 2.0:
                        skipped.append((c["pkg"], c["rel"], "tile %s nearly flat (detail %.2f)" % (name, d)))
                        continue
                    tiles.append([d, name, c, level, box, jpeg_bytes(Image.fromarray(t))])
    # Within the size limit, every picture gets its most detailed tile before any gets a second one.
    rank = {}
    for t in sorted(tiles, key=lambda t: (-t[0], t[1])):
        k = rank.setdefault(t[2]["name"], [0])
        t.append(k[0])
        k[0] += 1
    tiles.sort(key=lambda t: (t[6], -t[0], t[1]))
    budget = a.max_mb * 1e6
    n_tiles = 0
    for d, name, c, level, box, data, _ in tiles:
        if total + len(data) > budget:
            skipped.append((c["pkg"], c["rel"], "tile %s over the size limit (detail %.2f)" % (name, d)))
            continue
        f = "train/%s.jpg" % name
        open(os.path.join(out, f), "wb").write(data)
        total += len(data)
        n_tiles += 1
        rows.append(("train", f, c["pkg"], c["ver"], c["rel"], "%dx%d" % (c["w"], c["h"]), str(level),
                     "%d,%d,%d,%d" % box, "%dx%d" % (TILE, TILE)))
    rows.sort(key=lambda r: r[1])
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("split\tfile\tpackage\tversion\tsource\tsource_size\tscale_short\ttile_box\tsize\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    with open(os.path.join(out, "skipped.tsv"), "w") as f:
        f.write("package\tsource\treason\n")
        for r in sorted(skipped):
            f.write("\t".join(r) + "\n")
    pics = [c for c in final]
    ntr = sum(1 for c in pics if c["split"] == "train")
    print("dataset: %d pictures (%d train, %d val) + %d tiles = %d training images, %.1f MB of JPEG in %s"
          % (len(pics), ntr, len(pics) - ntr, n_tiles, ntr + n_tiles, total / 1e6, out))
    print("  %-30s %8s %9s %6s %6s %6s" % ("package", "version", "deb MB", "train", "val", "tiles"))
    for p in sorted(unpacked):
        u = unpacked[p]
        print("  %-30s %8s %9.1f %6d %6d %6d" % (
            p, u.version[-8:], u.size / 1e6, sum(1 for c in pics if c["pkg"] == p and c["split"] == "train"),
            sum(1 for c in pics if c["pkg"] == p and c["split"] == "val"),
            sum(1 for r in rows if r[2] == p and r[7])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
