#!/usr/bin/env python3
# Photos for the tiling tests (issue 16), from scikit-image's bundled sample pictures (public domain /
# CC0, skimage/data/README.txt): astronaut.png (512x512, NASA) as the 512x512 crop, and
# motorcycle_left.png (741x500, Middlebury stereo) centre-cropped to 4:3 and scaled (Lanczos) to
# 2048x1536 as the large, non-square photo. Written at test time: nothing large is committed.
import argparse
import os

import numpy as np
from PIL import Image
from skimage import data

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
Image.fromarray(data.astronaut()).save(os.path.join(a.out, "astronaut512.png"))
m = data.stereo_motorcycle()[0]  # (500, 741, 3)
h, w = m.shape[:2]
cw = h * 4 // 3
crop = m[:, (w - cw) // 2:(w - cw) // 2 + cw]
big = Image.fromarray(np.ascontiguousarray(crop)).resize((2048, 1536), Image.LANCZOS)
big.save(os.path.join(a.out, "motorcycle2048x1536.png"))
print("wrote", a.out)
