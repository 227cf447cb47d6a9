#!/usr/bin/env python3
"""Evaluates a reddiff model on the held-out photos against classical restoration, with the issue's targets.

    python3 training/evaluate.py --reddiff build/reddiff --out DIR [--model FILE] [--photos tests/data/heldout256]
                                 [--names a,b] [--tasks denoise,sr,...] [--steps 100] [--threads 2] [--device cpu]
    python3 training/evaluate.py --tune-baselines --reddiff build/reddiff --photos tests/data/val256 --out DIR

For every photo and task, `reddiff TASK --measure` restores it (the task's preset, --steps, seed 0, image id 0)
and keeps its measurement y with --save-measurement y.npy: the float array in [-1, 1], noise included and
not clamped. The classical baselines are computed here from that same y (on the [0, 1] scale, (y + 1) / 2),
so both sides see exactly the same measurement. The inpainting mask and the blur kernel come from
`reddiff degrade` with the same seed and image id (--save-mask, --save-kernel); the script checks that y
agrees with the mask.

  task (measurement)                            baselines (scikit-image / PIL)                    target
  denoise: sigma_y 0.1 (std on [0, 1])          non-local means (h = 0.6 sigma, fast mode), TV     >= NLM + 0.5 dB
                                                (Chambolle), wavelet (BayesShrink, YCbCr); noisy y
  sr: x4, average pooling                       bicubic (PIL, a = -0.5)                            >= bicubic + 1.5 dB
  deblur: Gaussian sigma 3 px, sigma_y 0.01     Wiener (skimage.restoration.wiener, the same        >= Wiener + 2 dB
                                                kernel, reflect padding of 32 px)
  inpaint-box: 96 x 96 centred hole             biharmonic (skimage.restoration.inpaint_biharmonic) >= biharmonic
  inpaint-freeform: 25 % free-form strokes      biharmonic                                          >= biharmonic

The baselines' own parameters (TV weight, NLM h, Wiener balance) were chosen with --tune-baselines on the
validation photos (tests/data/val256), never on the held-out ones (BASELINE below).
Every result is written as an 8-bit image (as reddiff writes its own) before it is scored: PSNR on [0, 1]
(skimage.metrics.peak_signal_noise_ratio) and SSIM with reddiff's conventions (Gaussian window sigma 1.5,
population covariance, data_range 1; docs/usage.md). reddiff's own PSNR from --json is checked against ours.

Writes in --out: TASK/NAME/{x.png, y.npy, mask.npy | kernel.npy, report.json, BASELINE.png}, results.csv
(task, photo, method, psnr, ssim, seconds), results.json, results.md (per-photo and mean tables, targets),
grid.png (--grid-photos: measurement, best classical result, RED-diff and truth for each task). Existing
reddiff results are reused (an interrupted run resumes); --redo runs them again.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageDraw
from skimage import restoration
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

# name: (reddiff task, measurement options, baselines, target baseline, target margin dB)
TASKS = {
    "denoise": ("denoise", ["--sigma-y", "0.1"], ["noisy", "nlm", "tv", "wavelet"], "nlm", 0.5),
    "sr": ("sr", ["--scale", "4", "--sr-kernel", "pool"], ["bicubic"], "bicubic", 1.5),
    "deblur": ("deblur", ["--blur", "gaussian", "--blur-sigma", "3", "--sigma-y", "0.01"], ["wiener"], "wiener", 2.0),
    "inpaint-box": ("inpaint", ["--mask", "box", "--box-size", "96"], ["biharmonic"], "biharmonic", 0.0),
    "inpaint-freeform": ("inpaint", ["--mask", "freeform", "--fraction", "0.25"], ["biharmonic"], "biharmonic", 0.0),
}
SIGMA = {"denoise": 0.1, "deblur": 0.01}
# Chosen by --tune-baselines on tests/data/val256 (the validation photos); see docs/models.md.
BASELINE = {"nlm_h": 0.6, "tv_weight": 0.1, "wiener_balance": 0.1}
GRID = {"nlm_h": [0.4, 0.5, 0.6, 0.7, 0.8, 1.0], "tv_weight": [0.06, 0.08, 0.09, 0.1, 0.11, 0.12],
        "wiener_balance": [0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]}
LABEL = {"reddiff": "RED-diff", "noisy": "noisy input", "nlm": "non-local means", "tv": "TV (Chambolle)",
         "wavelet": "wavelet (BayesShrink)", "bicubic": "bicubic", "wiener": "Wiener", "biharmonic": "biharmonic"}


def load01(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def to8(x):
    """What a saved 8-bit PNG holds: clamp to [0, 1], round to 1/255."""
    return np.round(np.clip(x, 0.0, 1.0) * 255.0) / 255.0


def psnr(ref, x):
    return float(peak_signal_noise_ratio(ref, x, data_range=1.0))


def ssim(ref, x):
    return float(structural_similarity(ref, x, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=1.0, channel_axis=-1))


def y01_from_npy(path):
    y = np.load(path).astype(np.float64)
    if y.ndim == 4:
        y = y[0]
    return (np.transpose(y, (1, 2, 0)) + 1.0) / 2.0  # H, W, C on the [0, 1] scale, not clamped


def bicubic(y, shape):
    """PIL's bicubic (a = -0.5) per channel on the float measurement."""
    chans = [np.asarray(Image.fromarray(y[..., c].astype(np.float32), mode="F")
                        .resize((shape[1], shape[0]), Image.BICUBIC), dtype=np.float64) for c in range(y.shape[2])]
    return np.stack(chans, -1)


def wiener(y, k, balance):
    """skimage's Wiener filter per channel, on y reflect-padded by 32 px (at least the kernel radius) and cropped
    back: reddiff's blur uses reflect boundaries while the filter assumes a periodic image, and a pad of only
    the kernel radius leaves ringing from the wrap-around (-4.6 dB on noise-free blur of a 256 px photo)."""
    p = max(k.shape[0] // 2, 32)
    yp = np.pad(y, ((p, p), (p, p), (0, 0)), mode="reflect")
    out = np.stack([restoration.wiener(yp[..., c], k, balance, clip=False) for c in range(y.shape[2])], -1)
    return out[p:-p, p:-p]


def baseline(kind, y, extra, shape, params):
    if kind == "noisy":
        return y
    if kind == "nlm":
        s = SIGMA["denoise"]
        return restoration.denoise_nl_means(y, h=params["nlm_h"] * s, sigma=s, fast_mode=True, patch_size=5,
                                            patch_distance=6, channel_axis=-1)
    if kind == "tv":
        return restoration.denoise_tv_chambolle(y, weight=params["tv_weight"], channel_axis=-1)
    if kind == "wavelet":
        return restoration.denoise_wavelet(y, sigma=SIGMA["denoise"], method="BayesShrink", mode="soft",
                                           rescale_sigma=True, convert2ycbcr=True, channel_axis=-1)
    if kind == "bicubic":
        return bicubic(y, shape)
    if kind == "wiener":
        return wiener(y, extra, params["wiener_balance"])
    if kind == "biharmonic":
        holes = extra < 0.5
        return restoration.inpaint_biharmonic(np.where(holes[..., None], 0.0, y), holes, channel_axis=-1)
    raise ValueError(kind)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), (r.stderr or r.stdout)[-2000:]))


def degrade_extras(a, task, opts, photo, d):
    """The mask or kernel of this measurement, from `reddiff degrade` with the same seed and image id."""
    rtask = TASKS[task][0]
    if rtask not in ("inpaint", "deblur"):
        return None
    path = os.path.join(d, "mask.npy" if rtask == "inpaint" else "kernel.npy")
    if not os.path.exists(path):
        flag = "--save-mask" if rtask == "inpaint" else "--save-kernel"
        run([a.reddiff, "degrade", rtask, "--seed", "0", "--image-id", "0", "--quiet"] + opts +
            [flag, path, photo, os.path.join(d, "degrade.npy")])
    e = np.load(path).astype(np.float64)
    return e.reshape(e.shape[-2:])


def measure(a, task, name, photo, d, redo):
    """reddiff --measure on one photo: returns (report, y01)."""
    rtask, opts = TASKS[task][0], TASKS[task][1]
    rep = os.path.join(d, "report.json")
    if redo or not os.path.exists(rep):
        cmd = [a.reddiff, rtask, "--measure", "--device", a.device, "--threads", str(a.threads),
               "--steps", str(a.steps), "--seed", "0", "--image-id", "0", "--quiet", "--overwrite",
               "--save-measurement", os.path.join(d, "y.npy"), "--json", rep] + opts + [photo, os.path.join(d, "x.png")]
        if a.model:
            cmd[2:2] = ["--model", a.model]
        t = time.time()
        run(cmd)
        print("  %-16s %-13s reddiff %.0f s" % (task, name, time.time() - t), flush=True)
    return json.load(open(rep)), y01_from_npy(os.path.join(d, "y.npy"))


def degrade_only(a, task, photo, d):
    """The measurement alone (for --tune-baselines): `reddiff degrade ... y.npy`."""
    rtask, opts = TASKS[task][0], TASKS[task][1]
    y = os.path.join(d, "y.npy")
    if not os.path.exists(y):
        run([a.reddiff, "degrade", rtask, "--seed", "0", "--image-id", "0", "--quiet"] + opts +
            [photo, y])
    return y01_from_npy(y)


def check_mask(y, truth, mask):
    keep = mask >= 0.5
    err = np.abs(y - truth)[keep].max()
    if err > 1e-3:
        raise SystemExit("inpainting measurement and mask disagree (max |y - x| on kept pixels %.4f)" % err)


def tune(a, photos, names):
    """Sweeps the baselines' parameters on the given (validation) photos; prints the mean PSNR of each value."""
    res = {}
    for key, values in GRID.items():
        task = {"nlm_h": "denoise", "tv_weight": "denoise", "wiener_balance": "deblur"}[key]
        kind = {"nlm_h": "nlm", "tv_weight": "tv", "wiener_balance": "wiener"}[key]
        scores = {v: [] for v in values}
        for n in names:
            d = os.path.join(a.out, "tune", task, os.path.splitext(n)[0])
            os.makedirs(d, exist_ok=True)
            photo = os.path.join(photos, n)
            truth = load01(photo)
            y = degrade_only(a, task, photo, d)
            extra = degrade_extras(a, task, TASKS[task][1], photo, d)
            for v in values:
                p = dict(BASELINE, **{key: v})
                scores[v].append(psnr(truth, to8(baseline(kind, y, extra, truth.shape, p))))
        res[key] = {str(v): float(np.mean(s)) for v, s in scores.items()}
        best = max(values, key=lambda v: np.mean(scores[v]))
        print("%-15s %s  -> best %s" % (key, "  ".join("%s: %.2f" % (v, np.mean(scores[v])) for v in values), best))
    json.dump(res, open(os.path.join(a.out, "tune.json"), "w"), indent=1)
    return 0


def grid(a, photos, results, names, path, size=160):
    """Rows: tasks; per photo in names: measurement (pinv view), best classical, RED-diff, truth."""
    cols = 4 * len(names)
    head = 16
    img = Image.new("RGB", (cols * size, len(TASKS) * (size + head)), "white")
    dr = ImageDraw.Draw(img)
    for r, task in enumerate(TASKS):
        for j, n in enumerate(names):
            d = os.path.join(a.out, task, n)
            rows = [x for x in results if x["task"] == task and x["photo"] == n]
            if not rows:
                continue
            base = max((x for x in rows if x["method"] not in ("reddiff", "noisy")), key=lambda x: x["psnr"])
            red = next(x for x in rows if x["method"] == "reddiff")
            y = np.clip(y01_from_npy(os.path.join(d, "y.npy")), 0, 1)
            if task.startswith("inpaint"):
                m = np.load(os.path.join(d, "mask.npy")).reshape(y.shape[:2])
                y = np.where(m[..., None] >= 0.5, y, 0.0)
            tiles = [(Image.fromarray((y * 255).round().astype(np.uint8)), "y"),
                     (Image.open(os.path.join(d, base["method"] + ".png")), "%s %.2f" % (base["method"], base["psnr"])),
                     (Image.open(os.path.join(d, "x.png")), "RED-diff %.2f" % red["psnr"]),
                     (Image.open(os.path.join(photos, n + ".png")), "%s: %s" % (task, n))]
            for k, (t, label) in enumerate(tiles):
                x0, y0 = (4 * j + k) * size, r * (size + head)
                img.paste(t.convert("RGB").resize((size, size), Image.NEAREST if t.size[0] < size else Image.LANCZOS),
                          (x0, y0 + head))
                dr.text((x0 + 2, y0 + 2), label, fill="black")
    img.save(path, optimize=True)


def mean_rows(results, tasks):
    out = []
    for task in tasks:
        methods = ["reddiff"] + TASKS[task][2]
        for m in methods:
            r = [x for x in results if x["task"] == task and x["method"] == m]
            if r:
                out.append({"task": task, "method": m, "n": len(r), "psnr": float(np.mean([x["psnr"] for x in r])),
                            "ssim": float(np.mean([x["ssim"] for x in r])),
                            "seconds": float(np.mean([x["seconds"] for x in r]))})
    return out


def markdown(results, tasks, names, a):
    means = mean_rows(results, tasks)
    lines = ["| task | RED-diff PSNR / SSIM | classical PSNR / SSIM | target | gain | holds |", "|---|---|---|---|---|---|"]
    verdicts = {}
    for task in tasks:
        _, _, bases, tgt, margin = TASKS[task]
        red = next((m for m in means if m["task"] == task and m["method"] == "reddiff"), None)
        if red is None:
            continue
        cls = "; ".join("%s %.2f / %.3f" % (LABEL[b], m["psnr"], m["ssim"]) for b in bases
                        for m in means if m["task"] == task and m["method"] == b)
        t = next(m for m in means if m["task"] == task and m["method"] == tgt)
        gain = red["psnr"] - t["psnr"]
        verdicts[task] = gain >= margin
        lines.append("| %s | %.2f / %.3f | %s | %s %+.1f dB | %+.2f dB | %s |" % (
            task, red["psnr"], red["ssim"], cls, LABEL[tgt], margin, gain, "yes" if verdicts[task] else "**no**"))
    lines += ["", "Per photo, PSNR (dB) / SSIM:", ""]
    for task in tasks:
        methods = ["reddiff"] + TASKS[task][2]
        lines.append("| %s | %s |" % (task, " | ".join(LABEL[m] for m in methods)))
        lines.append("|---" * (len(methods) + 1) + "|")
        for n in names:
            cells = []
            for m in methods:
                r = next((x for x in results if x["task"] == task and x["photo"] == n and x["method"] == m), None)
                cells.append("%.2f / %.3f" % (r["psnr"], r["ssim"]) if r else "")
            lines.append("| %s | %s |" % (n, " | ".join(cells)))
        lines.append("")
    return "\n".join(lines) + "\n", verdicts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 4)[4],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reddiff", required=True, help="the reddiff binary")
    ap.add_argument("--model", default="", help="model file (default: the binary's default, the bundled model)")
    ap.add_argument("--photos", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                                     "data", "heldout256"), help="folder of 256x256 PNG photos")
    ap.add_argument("--names", default="", help="comma-separated photo names without .png (default: all)")
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset of " + ", ".join(TASKS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--grid-photos", default="astronaut,castle", help="photos shown in grid.png")
    ap.add_argument("--redo", action="store_true", help="run reddiff again even where a report exists")
    ap.add_argument("--tune-baselines", action="store_true",
                    help="sweep the baselines' parameters on --photos (use the validation photos) and stop")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.photos):
        ap.error("--photos %s is not a folder" % a.photos)
    if not os.path.exists(a.reddiff):
        ap.error("--reddiff %s does not exist" % a.reddiff)
    os.makedirs(a.out, exist_ok=True)
    names = a.names.split(",") if a.names else sorted(
        os.path.splitext(f)[0] for f in os.listdir(a.photos) if f.endswith(".png"))
    if a.tune_baselines:
        return tune(a, a.photos, [n + ".png" if not n.endswith(".png") else n for n in names])
    tasks = a.tasks.split(",")
    for t in tasks:
        if t not in TASKS:
            ap.error("unknown task %s (one of %s)" % (t, ", ".join(TASKS)))
    for n in names:
        if not os.path.exists(os.path.join(a.photos, n + ".png")):
            ap.error("no photo %s.png in %s" % (n, a.photos))
    results = []
    # Photo by photo (all tasks of one photo, then the next), writing the tables after each: a run cut short
    # still leaves complete results for the photos it reached.
    for i, n in enumerate(names):
        for task in tasks:
            results += evaluate_one(a, task, n)
        write_reports(a, results, tasks, names[:i + 1])
    md, verdicts = write_reports(a, results, tasks, names)
    gp = [n for n in a.grid_photos.split(",") if n in names] or names[:2]
    grid(a, a.photos, results, gp, os.path.join(a.out, "grid.png"))
    print(md)
    print("targets hold: %d of %d" % (sum(verdicts.values()), len(verdicts)))
    return 0


def evaluate_one(a, task, n):
    rtask, opts, bases, _, _ = TASKS[task]
    d = os.path.join(a.out, task, n)
    os.makedirs(d, exist_ok=True)
    photo = os.path.join(a.photos, n + ".png")
    truth = load01(photo)
    rep, y = measure(a, task, n, photo, d, a.redo)
    extra = degrade_extras(a, task, opts, photo, d)
    if rtask == "inpaint":
        check_mask(y, truth, extra)
    x = load01(os.path.join(d, "x.png"))
    img = rep["images"][0]
    r = {"task": task, "photo": n, "method": "reddiff", "psnr": psnr(truth, x), "ssim": ssim(truth, x),
         "seconds": float(img["seconds"])}
    if img.get("psnr") is not None and abs(img["psnr"] - r["psnr"]) > 1e-3:
        raise SystemExit("%s %s: reddiff reports PSNR %.4f, this script %.4f" % (task, n, img["psnr"], r["psnr"]))
    out_rows = [r]
    for b in bases:
        t = time.time()
        out = to8(baseline(b, y, extra, truth.shape, BASELINE))
        sec = time.time() - t
        Image.fromarray((out * 255).round().astype(np.uint8)).save(os.path.join(d, b + ".png"))
        out_rows.append({"task": task, "photo": n, "method": b, "psnr": psnr(truth, out), "ssim": ssim(truth, out),
                         "seconds": sec})
    return out_rows


def write_reports(a, results, tasks, names):
    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, ["task", "photo", "method", "psnr", "ssim", "seconds"])
        w.writeheader()
        w.writerows(results)
    md, verdicts = markdown(results, tasks, names, a)
    open(os.path.join(a.out, "results.md"), "w").write(md)
    json.dump({"results": results, "means": mean_rows(results, tasks), "targets_hold": verdicts,
               "steps": a.steps, "model": a.model or "bundled", "photos": names, "baseline_params": BASELINE},
              open(os.path.join(a.out, "results.json"), "w"), indent=1)
    return md, verdicts


if __name__ == "__main__":
    sys.exit(main())
