#!/usr/bin/env python3
"""PSNR / SSIM references from scikit-image (a ctest fixture for tests/cli/test_metrics.cpp).

    /usr/bin/python3 tests/python/gen_metric_cases.py --out DIR

For each case k: DIR/k_x.npy and DIR/k_ref.npy, float32 (C, H, W) on [0, 1], and in DIR/cases.json
{"name": k, "psnr": ..., "ssim": ...} computed on the float64 values of those float32 arrays with
  peak_signal_noise_ratio(ref, x, data_range=1)
  structural_similarity(ref, x, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                        data_range=1, channel_axis=0)
(engine/metrics.h documents the convention).
"""
import argparse
import json
import os

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def cases(rng):
    # Random pairs, several shapes (square, odd, non-square, the 11-pixel minimum, grey).
    for name, shape in [("rand_rgb", (3, 32, 32)), ("rand_odd", (3, 23, 37)), ("rand_min", (3, 11, 11)),
                        ("rand_grey", (1, 40, 17))]:
        yield name, rng.random(shape), rng.random(shape)
    # Structured: a smooth image and its noisy, blurred, shifted and contrast-changed versions.
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([0.5 + 0.4 * np.sin(xx / 5.0) * np.cos(yy / 7.0), (xx / (w - 1)) * 0.8 + 0.1,
                     ((xx // 8 + yy // 8) % 2) * 0.6 + 0.2])
    yield "noisy", np.clip(base + 0.05 * rng.standard_normal(base.shape), 0, 1), base
    yield "shifted", np.roll(base, 2, axis=2), base
    yield "contrast", 0.5 + 0.5 * (base - 0.5), base
    yield "quantised", np.round(base * 255) / 255, base
    yield "constant", np.full(base.shape, 0.3), base
    yield "nearly_equal", base + 1e-3 * rng.standard_normal(base.shape), base


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(11)
    out = []
    for name, x, ref in cases(rng):
        x = x.astype(np.float32)
        ref = ref.astype(np.float32)
        np.save(os.path.join(a.out, name + "_x.npy"), x)
        np.save(os.path.join(a.out, name + "_ref.npy"), ref)
        x64, r64 = x.astype(np.float64), ref.astype(np.float64)
        p = peak_signal_noise_ratio(r64, x64, data_range=1)
        s = structural_similarity(r64, x64, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                  data_range=1, channel_axis=0)
        out.append({"name": name, "psnr": float(p), "ssim": float(s)})
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
