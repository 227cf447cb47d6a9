#!/usr/bin/env python3
"""Checks training/evaluate.py's own arithmetic against independent references, on a random 128x128 photo crop.

    test_evaluate.py --reddiff BIN --photo tests/data/heldout256/castle.png --out DIR

- its PSNR and SSIM against reddiff's --measure report (the C++ metrics, themselves checked against
  scikit-image in tests/cli/test_metrics.cpp) and PSNR against the closed form 10 log10(1 / MSE);
- the measurements it reads back (y.npy from --save-measurement) against NumPy's own degradations: 4x4
  average pooling for sr, the Gaussian kernel it gives Wiener applied with reflect boundaries for deblur,
  the mask it gives biharmonic inpainting for inpainting, and noise of the stated std for denoise;
- its Wiener filter: with noise-free blur and a small balance it must undo most of the blur.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
import evaluate as ev  # noqa: E402


def reflect_conv(x, k):
    p = k.shape[0] // 2
    xp = np.pad(x, ((p, p), (p, p), (0, 0)), mode="reflect")
    out = np.zeros_like(x)
    for a in range(k.shape[0]):
        for b in range(k.shape[1]):
            # y[p, q] = sum k[a, b] x[p + r - a, q + r - b] (docs/tasks.md): a correlation with the flipped kernel
            out += k[a, b] * xp[2 * p - a:2 * p - a + x.shape[0], 2 * p - b:2 * p - b + x.shape[1]]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reddiff", required=True)
    ap.add_argument("--photo", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(7)
    full = Image.open(a.photo).convert("RGB")
    x0, y0 = rng.integers(0, full.size[0] - 128, 2)
    photo = os.path.join(a.out, "crop.png")
    full.crop((x0, y0, x0 + 128, y0 + 128)).save(photo)
    truth = ev.load01(photo)
    args = argparse.Namespace(reddiff=a.reddiff, model="", device="cpu", threads=2, steps=2)
    fails = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            fails.append(what)

    for task in ev.TASKS:
        d = os.path.join(a.out, task)
        os.makedirs(d, exist_ok=True)
        rep, y = ev.measure(args, task, "crop", photo, d, True)
        extra = ev.degrade_extras(args, task, ev.TASKS[task][1], photo, d)
        x = ev.load01(os.path.join(d, "x.png"))
        img = rep["images"][0]
        mse = np.mean((x - truth) ** 2)
        check(abs(ev.psnr(truth, x) - 10 * np.log10(1 / mse)) < 1e-9, "%s: PSNR = 10 log10(1/MSE)" % task)
        check(abs(ev.psnr(truth, x) - img["psnr"]) < 1e-3, "%s: PSNR matches reddiff's (%.4f)" % (task, img["psnr"]))
        check(abs(ev.ssim(truth, x) - img["ssim"]) < 1e-3, "%s: SSIM matches reddiff's (%.4f)" % (task, img["ssim"]))
        if task == "sr":
            pooled = truth.reshape(32, 4, 32, 4, 3).mean(axis=(1, 3))
            check(np.abs(y - pooled).max() < 1e-5, "sr: y is 4x4 average pooling of x")
            check(ev.bicubic(y, truth.shape).shape == truth.shape, "sr: bicubic gives the photo's shape")
        if task == "deblur":
            k = extra
            check(k.shape == (19, 19) and abs(k.sum() - 1) < 1e-5, "deblur: kernel 19x19 (2 ceil(3 sigma) + 1), sum 1")
            g = np.exp(-np.arange(-9, 10) ** 2 / 18.0)
            check(np.abs(k - np.outer(g, g) / np.outer(g, g).sum()).max() < 1e-6, "deblur: the kernel is Gaussian sigma 3")
            resid = y - reflect_conv(truth, k)
            check(abs(resid.std() - 0.01) < 0.002 and abs(resid.mean()) < 0.002,
                  "deblur: y = k * x (reflect) + noise of std 0.01 (residual std %.4f)" % resid.std())
            clean = reflect_conv(truth, k)
            w = ev.wiener(clean, k, 1e-4)
            check(ev.psnr(truth, w) > ev.psnr(truth, clean) + 2, "deblur: Wiener undoes noise-free blur (%.1f -> %.1f dB)"
                  % (ev.psnr(truth, clean), ev.psnr(truth, w)))
        if task == "denoise":
            r = y - truth
            check(abs(r.std() - 0.1) < 0.01 and abs(r.mean()) < 0.01, "denoise: y = x + noise of std 0.1 (%.4f)" % r.std())
        if task.startswith("inpaint"):
            keep = extra >= 0.5
            check(np.abs(y - truth)[keep].max() < 1e-5, "%s: y equals x where the mask keeps it" % task)
            frac = 1 - keep.mean()
            check(0.05 < frac < 0.6, "%s: the mask removes %.0f%% of the pixels" % (task, 100 * frac))
            b = ev.baseline("biharmonic", y, extra, truth.shape, ev.BASELINE)
            check(np.abs(b - y)[keep].max() < 1e-6, "%s: biharmonic keeps the known pixels" % task)
    if fails:
        print("FAILED: %d checks" % len(fails))
        return 1
    print("all checks hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
