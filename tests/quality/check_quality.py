#!/usr/bin/env python3
"""Restoration quality of the bundled model on validation photos (issue 7's bars), end to end.

    check_quality.py --reddiff BIN --photos DIR --names a.png,b.png [--inpaint-names a.png] --out DIR
                     [--device cuda]

For each task, runs `reddiff TASK --measure` (100 steps, the task's preset, CPU unless --device) over the
photos as one batch, keeps the measurements it made (--save-measurement, 8-bit PNG as a user would have
them), and compares the restorations' PSNR with an independent baseline computed here from those
measurements:

  task                       baseline                                issue 7 bar        enforced here
  denoise, sigma_y 0.1       the noisy input itself                  +8 dB              +8 dB
  sr x4, average pooling     bicubic upsampling (PIL, a = -0.5)      +1 dB              +1 dB
  deblur, gaussian 3 px,     Wiener inverse (NumPy FFT, reflect      +0.5 dB            +0.5 dB
    sigma_y 0.01               padding, Tikhonov 1e-3)
  inpaint, 25 % free-form    A+ y: the holes left mid-grey           reported           +3 dB
  inpaint, 96x96 box         A+ y                                    reported           +3 dB

The bars are means over --names (CI: all eight validation photos); inpainting, which has no bar, runs on
--inpaint-names (CI: two of them) to keep the test's time down. Every figure is printed; the exit status
is 1 when an enforced margin is missed.
PSNR is on [0, 1] over 8-bit images, means over the photos.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

TASKS = [
    # name, task, measurement options, baseline, enforced margin (dB), issue bar (dB or None)
    ("denoise", "denoise", ["--sigma-y", "0.1"], "noisy", 8.0, 8.0),
    ("sr", "sr", ["--scale", "4", "--sr-kernel", "pool"], "bicubic", 1.0, 1.0),
    ("deblur", "deblur", ["--blur", "gaussian", "--blur-sigma", "3", "--sigma-y", "0.01"], "wiener", 0.5, 0.5),
    ("inpaint-freeform", "inpaint", ["--mask", "freeform", "--fraction", "0.25"], "pinv", 3.0, None),
    ("inpaint-box", "inpaint", ["--mask", "box", "--box-size", "96"], "pinv", 3.0, None),
]


def load(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def quantise(x):
    return np.round(np.clip(x, 0, 1) * 255) / 255


def gaussian_kernel(sigma):
    r = int(np.ceil(3 * sigma))
    t = np.arange(-r, r + 1)
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    k = np.outer(g, g)
    return k / k.sum()


def wiener(y01, k, reg):
    """Tikhonov-regularised inverse filter on the [-1, 1] image, reflect-padded by the kernel radius."""
    p = k.shape[0] // 2
    y = np.pad(2 * y01 - 1, ((p, p), (p, p), (0, 0)), mode="reflect")
    kk = np.zeros(y.shape[:2])
    kk[: k.shape[0], : k.shape[1]] = k
    kk = np.roll(kk, (-p, -p), axis=(0, 1))
    K = np.fft.fft2(kk)
    X = np.fft.fft2(y, axes=(0, 1)) * (np.conj(K) / (np.abs(K) ** 2 + reg))[:, :, None]
    x = np.real(np.fft.ifft2(X, axes=(0, 1)))[p:-p, p:-p]
    return quantise((x + 1) / 2)


def baseline(kind, y_path, shape):
    y = load(y_path)
    if kind in ("noisy", "pinv"):  # the measurement is the image (holes are mid-grey for inpainting)
        return y
    if kind == "bicubic":
        img = Image.open(y_path).convert("RGB").resize((shape[1], shape[0]), Image.BICUBIC)
        return np.asarray(img, dtype=np.float64) / 255.0
    if kind == "wiener":
        return wiener(y, gaussian_kernel(3.0), 1e-3)
    raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reddiff", required=True)
    ap.add_argument("--photos", required=True)
    ap.add_argument("--names", required=True)
    ap.add_argument("--inpaint-names", default="", help="photos for the inpainting tasks (default: --names)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", default="100")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--device", default="cpu", help="cpu (CI) or cuda (the same figures, faster; docs/models.md)")
    a = ap.parse_args()
    all_names = a.names.split(",")
    inpaint_names = a.inpaint_names.split(",") if a.inpaint_names else all_names
    shutil.rmtree(a.out, ignore_errors=True)
    folders = {}
    for key, subset in (("all", all_names), ("inpaint", inpaint_names)):
        folders[key] = os.path.join(a.out, "photos-" + key)
        os.makedirs(folders[key])
        for n in subset:
            shutil.copy(os.path.join(a.photos, n), folders[key])
    failed = []
    print("%-17s %6s %8s %9s %8s %8s %9s  %s" % ("task", "photos", "reddiff", "baseline", "gain", "SSIM", "enforced", "issue bar"))
    for name, task, opts, kind, margin, bar in TASKS:
        d = os.path.join(a.out, name)
        names = inpaint_names if task == "inpaint" else all_names
        photos = folders["inpaint" if task == "inpaint" else "all"]
        cmd = [a.reddiff, task, "--measure", "--device", a.device, "--threads", a.threads, "--steps", a.steps,
               "--batch-size", str(len(names)), "--seed", "0", "--quiet", "--overwrite",
               "--save-measurement", os.path.join(d, "y"), "--csv", os.path.join(d, "scores.csv")] + opts + \
              [photos, os.path.join(d, "x")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print("%s: reddiff failed (%d): %s" % (name, r.returncode, (r.stderr or r.stdout).strip()[-500:]))
            failed.append(name)
            continue
        rows = {row["file"]: row for row in csv.DictReader(open(os.path.join(d, "scores.csv")))}
        ours, base, ssims = [], [], []
        for n in names:
            truth = load(os.path.join(photos, n))
            ours.append(psnr(load(os.path.join(d, "x", n)), truth))
            ssims.append(float(rows[n]["ssim"]))
            assert abs(ours[-1] - float(rows[n]["psnr"])) < 1e-3, "PSNR differs from the tool's report"
            base.append(psnr(baseline(kind, os.path.join(d, "y", n), truth.shape), truth))
        o, b = float(np.mean(ours)), float(np.mean(base))
        ok = o >= b + margin
        bar_s = "reported" if bar is None else ("%+.1f dB %s" % (bar, "met" if o >= b + bar else "NOT met"))
        print("%-17s %6d %8.2f %9.2f %+8.2f %8.4f %+8.1f%s  %s" % (name, len(names), o, b, o - b, float(np.mean(ssims)), margin,
                                                            " " if ok else "!", bar_s))
        if not ok:
            failed.append(name)
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    print("all enforced margins hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
