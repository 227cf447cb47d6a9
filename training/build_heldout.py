#!/usr/bin/env python3
"""Builds the held-out evaluation set: whole pictures from Debian packages that contribute nothing to training.

    python3 training/build_heldout.py OUTDIR [--cache DIR] [--commit tests/data/heldout256]

The pictures are named below (package, path inside it, kind). The packages are disjoint from the training
packages of training/build_dataset.py (checked here), so no crop of these pictures, nor anything else from
these packages, is ever trained on; presets are tuned on the validation set (tests/data/val256), never here.

Writes
  OUTDIR/full/NAME.png      the whole picture, RGB, at its own resolution
  OUTDIR/crops256/NAME.png  the evaluation crop: the picture scaled (Lanczos) so its short side is 256 px,
                            then the central 256 x 256 (most of each photo stays in view)
  OUTDIR/manifest.tsv       name, kind, package, version, source path, source SHA-256, source size,
                            crop SHA-256, licence
  OUTDIR/licenses/PACKAGE.copyright
With --commit DIR the crops, the manifest and the licence files go to DIR too (the repository keeps the
twelve 256 x 256 crops, about 1.5 MB, so the evaluation needs no download). When DIR already has a
manifest, every source and crop hash is compared with it and a difference is reported (exit 1): the set is
reproducible from the named package versions.

Needs apt-get and dpkg-deb (the packages are fetched with `apt-get download`, ~75 MB, cached in --cache),
numpy and PIL.
"""
import argparse
import csv
import hashlib
import os
import shutil
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import debs  # noqa: E402
import build_dataset  # noqa: E402

SKI = "usr/lib/python3/dist-packages/skimage/data/"
SKL = "usr/lib/python3/dist-packages/sklearn/datasets/images/"
PAL = "usr/share/palapeli/collection/"
LXQ = "usr/share/lxqt/wallpapers/"
# name, kind, package, path, licence (from the package's debian/copyright and the picture's own notes)
PICTURES = [
    ("astronaut", "people", "python3-skimage", SKI + "astronaut.png",
     "BSD-3-Clause (scikit-image); photograph NASA, public domain"),
    ("grace_hopper", "people", "python-matplotlib-data", "usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
     "matplotlib licence (PSF-based); photograph US Navy, public domain"),
    ("chelsea", "animals", "python3-skimage", SKI + "chelsea.png",
     "BSD-3-Clause (scikit-image); photograph Stefan van der Walt, CC0"),
    ("chameleon", "animals", "palapeli-data", PAL + "panther-chameleon-female.jpg", "GPL-2+ (palapeli-data)"),
    ("china", "buildings", "python3-sklearn", SKL + "china.jpg",
     "BSD-3-Clause (scikit-learn); photograph danielbuechele, CC-BY-2.0"),
    ("castle", "buildings", "palapeli-data", PAL + "castle-maintenon.jpg", "GPL-2+ (palapeli-data)"),
    ("bridge", "buildings", "palapeli-data", PAL + "cincinnati-bridge.jpg", "GPL-2+ (palapeli-data)"),
    ("flower", "nature", "python3-sklearn", SKL + "flower.jpg",
     "BSD-3-Clause (scikit-learn); photograph vultilion, CC-BY-2.0"),
    ("meadow", "nature", "lxqt-themes", LXQ + "flowers.png", "CC-BY-SA-3.0 (lxqt-themes wallpapers, stefonarch)"),
    ("hills", "nature", "lxqt-themes", LXQ + "this-is-not-windows.jpg",
     "CC-BY-SA-3.0 (lxqt-themes wallpapers, stefonarch)"),
    ("coffee", "objects", "python3-skimage", SKI + "coffee.png",
     "BSD-3-Clause (scikit-image); photograph Pikolo Espresso Bar, CC0"),
    ("citrus", "objects", "palapeli-data", PAL + "citrus-fruits.jpg", "GPL-2+ (palapeli-data)"),
]
# The versions the committed crops were made from (Debian 12).
PINS = {"python3-skimage": "0.19.3-8", "python-matplotlib-data": "3.6.3-1", "python3-sklearn": "1.2.1+dfsg-1",
        "palapeli-data": "4:22.12.3-1", "lxqt-themes": "1.2.0-1"}
CROP = 256
COLUMNS = ["name", "kind", "package", "version", "source", "source_sha256", "source_size", "crop_sha256", "licence"]


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def eval_crop(im, size=CROP):
    s = size / min(im.size)
    w, h = max(size, round(im.size[0] * s)), max(size, round(im.size[1] * s))
    im = im.resize((w, h), Image.LANCZOS)
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--cache", default=os.path.join(HERE, "data", "debs"), help="where the .deb files are kept")
    ap.add_argument("--commit", default="", help="also write the crops, manifest and licences here")
    a = ap.parse_args(argv)
    pkgs = sorted(set(p[2] for p in PICTURES))
    clash = set(pkgs) & set(build_dataset.TRAIN_PACKAGES)
    if clash:
        raise SystemExit("held-out packages also used for training: %s" % ", ".join(sorted(clash)))
    unpacked, cleanup = debs.fetch(pkgs, a.cache, PINS)
    try:
        missing = [p for p in pkgs if p not in unpacked]
        if missing:
            raise SystemExit("cannot fetch %s" % ", ".join(missing))
        for d in ("full", "crops256", "licenses"):
            os.makedirs(os.path.join(a.out, d), exist_ok=True)
        rows = []
        for name, kind, pkg, path, lic in PICTURES:
            u = unpacked[pkg]
            src = os.path.join(u.root, path)
            im = Image.open(src).convert("RGB")
            im.save(os.path.join(a.out, "full", name + ".png"))
            crop_path = os.path.join(a.out, "crops256", name + ".png")
            eval_crop(im).save(crop_path, optimize=True)
            rows.append({"name": name, "kind": kind, "package": pkg, "version": u.version, "source": path,
                         "source_sha256": sha256(src), "source_size": "%dx%d" % im.size,
                         "crop_sha256": hashlib.sha256(np.asarray(Image.open(crop_path)).tobytes()).hexdigest(),
                         "licence": lic})
        for p in pkgs:
            shutil.copyfile(unpacked[p].copyright, os.path.join(a.out, "licenses", p + ".copyright"))
        man = os.path.join(a.out, "manifest.tsv")
        with open(man, "w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        print("held-out set: %d whole pictures from %d packages (%s) in %s" % (
            len(rows), len(pkgs), ", ".join("%s %s %.1f MB" % (p, unpacked[p].version, unpacked[p].size / 1e6)
                                            for p in pkgs), a.out))
        for k in sorted(set(r["kind"] for r in rows)):
            print("  %-10s %s" % (k, ", ".join(r["name"] for r in rows if r["kind"] == k)))
        status = 0
        if a.commit:
            old = os.path.join(a.commit, "manifest.tsv")
            if os.path.exists(old):
                prev = {r["name"]: r for r in csv.DictReader(open(old), delimiter="\t")}
                for r in rows:
                    q = prev.get(r["name"])
                    for key in ("source_sha256", "crop_sha256"):
                        if q is None or q[key] != r[key]:
                            print("DIFFERS from %s: %s %s" % (old, r["name"], key))
                            status = 1
            os.makedirs(os.path.join(a.commit, "licenses"), exist_ok=True)
            for r in rows:
                shutil.copyfile(os.path.join(a.out, "crops256", r["name"] + ".png"),
                                os.path.join(a.commit, r["name"] + ".png"))
            shutil.copyfile(man, old)
            for p in pkgs:
                shutil.copyfile(unpacked[p].copyright, os.path.join(a.commit, "licenses", p + ".copyright"))
            print("copied the crops, manifest and licences to %s" % a.commit)
        return status
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
