#!/usr/bin/env python3
"""JPEG files made by an independent encoder (PIL), for the JPEG operator tests (tests/operators/test_jpeg.cpp).

Writes into --out:
  photo.npy             a real photograph (scikit-image's astronaut, NASA, public domain) resized to 69x91
                        (neither a multiple of 8 nor 16), 8-bit, as float32 [3, H, W] in [-1, 1]
  <name>.jpg            PIL encodings of it (libjpeg underneath, but PIL's own settings path): see CASES
  <name>_source.npy     the image PIL encoded (the photo, or PIL's grey conversion of it), float32 [C, H, W]
  <name>_decoded.npy    PIL's decoding of each file, float32 [C, H, W] in [-1, 1] (C = 1 for grey)
  cases.json            [{name, quality, subsampling (444|422|420|grey), progressive, colour, channels}]
The C++ test reads each file's coefficients with reddiff's reader and compares them with the operator's
rounding of the photo, reddiff's libjpeg decoding with PIL's, and checks that the CMYK file is refused.
"""
import argparse
import json
import os

import numpy as np
import skimage.data
import skimage.transform
from PIL import Image

H, W = 69, 91

# name, quality, PIL subsampling (0: 4:4:4, 1: 4:2:2, 2: 4:2:0), progressive, mode
CASES = [
    ("pil_q30_420", 30, 2, False, "RGB"),
    ("pil_q10_422_progressive", 10, 1, True, "RGB"),
    ("pil_q75_444", 75, 0, False, "RGB"),
    ("pil_q50_grey", 50, None, False, "L"),
    ("pil_q50_cmyk", 50, None, False, "CMYK"),
]
SUB = {0: "444", 1: "422", 2: "420"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    photo = skimage.data.astronaut()
    img8 = (skimage.transform.resize(photo, (H, W), anti_aliasing=True) * 255 + 0.5).astype(np.uint8)
    np.save(os.path.join(args.out, "photo.npy"), (img8.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0))
    cases = []
    for name, quality, sub, progressive, mode in CASES:
        im = Image.fromarray(img8, "RGB").convert(mode)
        path = os.path.join(args.out, name + ".jpg")
        kw = dict(quality=quality, progressive=progressive)
        if sub is not None:
            kw["subsampling"] = sub
        im.save(path, "JPEG", **kw)
        if mode != "CMYK":
            src = np.asarray(im, dtype=np.float32)
            src = src[None] if src.ndim == 2 else src.transpose(2, 0, 1)
            np.save(os.path.join(args.out, name + "_source.npy"), src / 127.5 - 1.0)
            dec = np.asarray(Image.open(path).convert(mode), dtype=np.float32)
            dec = dec[None] if dec.ndim == 2 else dec.transpose(2, 0, 1)
            np.save(os.path.join(args.out, name + "_decoded.npy"), dec / 127.5 - 1.0)
        cases.append(dict(name=name, quality=quality, subsampling=SUB.get(sub, "grey" if mode == "L" else ""),
                          progressive=progressive, colour=mode, channels={"RGB": 3, "L": 1, "CMYK": 4}[mode]))
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
