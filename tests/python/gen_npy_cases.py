#!/usr/bin/env python3
""".npy files written by NumPy itself, for the reader's tests (a ctest fixture for tests/security/test_npy.cpp).

    /usr/bin/python3 tests/python/gen_npy_cases.py --out DIR

For each case k: DIR/k.npy as NumPy writes it (dtype, order and format version as named) and DIR/k.expect,
the array's values in C order as little-endian float64 (the int64 values for integer arrays, exactly), and
DIR/cases.json [{"name": k, "shape": [...], "integer": bool}]. Random non-zero values throughout.
"""
import argparse
import io
import json
import os

import numpy as np


def cases(rng):
    x = rng.standard_normal((3, 5, 7))
    yield "f32_c", x.astype(np.float32), None
    yield "f64_c", x, None
    yield "f16_c", x.astype(np.float16), None
    yield "f32_fortran", np.asfortranarray(x.astype(np.float32)), None
    yield "f64_fortran_4d", np.asfortranarray(rng.standard_normal((2, 3, 4, 5))), None
    yield "f32_v2", x.astype(np.float32), (2, 0)
    yield "f32_v3", x.astype(np.float32), (3, 0)
    yield "f32_1d", rng.standard_normal(11).astype(np.float32), None
    yield "f32_scalar", np.float32(rng.standard_normal()), None
    yield "i64", rng.integers(-2 ** 40, 2 ** 40, (4, 6)), None
    yield "i32_fortran", np.asfortranarray(rng.integers(-2 ** 30, 2 ** 30, (5, 3)).astype(np.int32)), None
    yield "u1", rng.integers(1, 255, (6, 4)).astype(np.uint8), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    meta = []
    for name, arr, version in cases(np.random.default_rng(17)):
        arr = np.asarray(arr)
        with open(os.path.join(a.out, name + ".npy"), "wb") as f:
            if version is None:
                np.save(f, arr)
            else:
                np.lib.format.write_array(f, arr, version=version)
        integer = arr.dtype.kind in "iu"
        flat = np.ascontiguousarray(arr).reshape(-1)
        expect = flat.astype("<i8") if integer else flat.astype("<f8")
        with open(os.path.join(a.out, name + ".expect"), "wb") as f:
            f.write(expect.tobytes())
        meta.append({"name": name, "shape": list(arr.shape), "integer": bool(integer)})
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
