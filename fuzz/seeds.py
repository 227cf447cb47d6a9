#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target (fuzz/CMakeLists.txt) under OUT/<target>/: small valid
files of each format the target's reader accepts, made by NumPy, Pillow, the standard library and (for
checkpoints) PyTorch. Nothing here is committed; run_fuzz.sh calls it before fuzzing.

    seeds.py OUT
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib

import numpy as np
from PIL import Image


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png16(px):
    """A 16-bit PNG (grey or RGB, by the array's shape), written by hand: Pillow writes 16 bits for grey only."""
    h, w = px.shape[:2]
    c = 1 if px.ndim == 2 else px.shape[2]
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = b"".join(b"\0" + px[y].astype(">u2").tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)) +
            png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def images(rng):
    """Small images in every format and layout the tool reads."""
    h, w = 6, 9
    rgb = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    grey = rgb[..., 0]
    alpha = (rng.random((h, w)) * 255).astype(np.uint8)
    out = {}
    im = Image.fromarray(rgb)
    out["rgb.png"] = pil_bytes(im, "PNG")
    out["grey.png"] = pil_bytes(Image.fromarray(grey), "PNG")
    out["grey_alpha.png"] = pil_bytes(Image.fromarray(np.dstack([grey, alpha]), "LA"), "PNG")
    out["rgba.png"] = pil_bytes(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG")
    out["palette.png"] = pil_bytes(im.convert("P", palette=Image.ADAPTIVE, colors=7), "PNG")
    out["bilevel.png"] = pil_bytes(Image.fromarray(grey > 128), "PNG")
    out["grey16.png"] = png16((rng.random((h, w)) * 65535).astype(np.uint16))
    out["rgb16.png"] = png16((rng.random((h, w, 3)) * 65535).astype(np.uint16))
    out["rgba16.png"] = png16((rng.random((h, w, 4)) * 65535).astype(np.uint16))
    out["baseline.jpg"] = pil_bytes(im, "JPEG", quality=90)
    out["progressive.jpg"] = pil_bytes(im, "JPEG", quality=75, progressive=True)
    out["sub420.jpg"] = pil_bytes(Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)), "JPEG", subsampling=2)
    out["grey.jpg"] = pil_bytes(Image.fromarray(grey), "JPEG")
    out["cmyk.jpg"] = pil_bytes(im.convert("CMYK"), "JPEG")
    out["rgb.bmp"] = pil_bytes(im, "BMP")
    out["palette.bmp"] = pil_bytes(im.convert("P", palette=Image.ADAPTIVE, colors=16), "BMP")
    out["bilevel.bmp"] = pil_bytes(Image.fromarray(grey > 128), "BMP")
    out["rgba.bmp"] = pil_bytes(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "BMP")
    out["still.gif"] = pil_bytes(im.convert("P", palette=Image.ADAPTIVE, colors=8), "GIF")
    frames = [Image.fromarray(np.roll(rgb, k, axis=1)).convert("P", palette=Image.ADAPTIVE, colors=8) for k in range(3)]
    b = io.BytesIO()
    frames[0].save(b, "GIF", save_all=True, append_images=frames[1:], duration=10, loop=0, transparency=0)
    out["animated.gif"] = b.getvalue()
    out["rgb.ppm"] = pil_bytes(im, "PPM")
    out["grey.pgm"] = pil_bytes(Image.fromarray(grey), "PPM")
    g16 = (rng.random((h, w)) * 65535).astype(">u2")
    out["grey16.pgm"] = b"P5\n%d %d\n65535\n" % (w, h) + g16.tobytes()
    out["rgb.tga"] = pil_bytes(im, "TGA")
    out["rle.tga"] = pil_bytes(im, "TGA", compression="tga_rle")
    out["grey.tga"] = pil_bytes(Image.fromarray(grey), "TGA")
    out["rgba_rle.tga"] = pil_bytes(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "TGA", compression="tga_rle")
    return out


def npy_bytes(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        np.lib.format.write_array(b, a, version=version)
    return b.getvalue()


def arrays(rng):
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    return {
        "chw_f32.npy": npy_bytes(x),
        "nchw_f32.npy": npy_bytes(x[None]),
        "f64.npy": npy_bytes(x.astype(np.float64)),
        "f16.npy": npy_bytes(x.astype(np.float16)),
        "fortran.npy": npy_bytes(np.asfortranarray(x)),
        "i64.npy": npy_bytes(np.arange(12, dtype=np.int64).reshape(3, 4)),
        "i32.npy": npy_bytes(np.arange(6, dtype=np.int32)),
        "u1.npy": npy_bytes((rng.random((4, 6)) * 255).astype(np.uint8)),
        "scalar.npy": npy_bytes(np.float32(2.5)),
        "empty.npy": npy_bytes(np.zeros((0, 3), np.float32)),
        "v2.npy": npy_bytes(x, version=(2, 0)),
        "v3.npy": npy_bytes(x, version=(3, 0)),
        "big_endian.npy": npy_bytes(x.astype(">f4")),
    }


def masks_and_kernels(rng, imgs):
    """Inputs of the mask and kernel targets: byte 0 flags (bit 0: .npy), bytes 1 and 2 the image size - 1."""
    m = (rng.random((16, 16)) > 0.3)
    mask = {
        "png": bytes([0, 31, 31]) + pil_bytes(Image.fromarray(m), "PNG"),
        "grey_jpg": bytes([0, 15, 15]) + pil_bytes(Image.fromarray((m * 255).astype(np.uint8)), "JPEG"),
        "rgb_png_wide": bytes([2, 9, 19]) + pil_bytes(Image.fromarray((rng.random((8, 16, 3)) * 255).astype(np.uint8)), "PNG"),
        "npy_f32": bytes([1, 31, 31]) + npy_bytes(m.astype(np.float32)),
        "npy_u1_nchw": bytes([3, 15, 15]) + npy_bytes(m.astype(np.uint8)[None, None]),
    }
    g = np.exp(-((np.arange(7) - 3) ** 2) / 4.0)
    k = np.outer(g, g)
    kernel = {
        "png": bytes([0, 31, 31]) + pil_bytes(Image.fromarray((k / k.max() * 255).astype(np.uint8)), "PNG"),
        "rgb_bmp": bytes([0, 20, 20]) + imgs["rgb.bmp"],
        "npy_f64": bytes([1, 31, 31]) + npy_bytes(k / k.sum()),
        "npy_f32_line": bytes([1, 15, 15]) + npy_bytes(np.ones((1, 9), np.float32)),
        "npy_i64": bytes([1, 15, 15]) + npy_bytes(np.ones((3, 3), np.int64)),
    }
    return mask, kernel


def checkpoints(out):
    """Torch checkpoints (zip and legacy containers) and their pickles; skipped without torch."""
    try:
        import torch
    except ImportError:
        print("seeds.py: no torch; checkpoint seeds are the generic ones only", file=sys.stderr)
        return
    torch.manual_seed(0)
    base = torch.randn(4, 6)
    dicts = {
        "plain": {"w": torch.randn(2, 3), "b": torch.zeros(3, dtype=torch.float16)},
        "wrapped": {"state_dict": collections.OrderedDict([("module.conv.weight", torch.randn(2, 1, 3, 3)),
                                                          ("module.conv.bias", torch.randn(2).to(torch.bfloat16))]),
                    "epoch": 3, "lr": 0.1, "name": "x"},
        "views": {"a": base[1:3], "b": base[:, 2], "c": base, "i": torch.arange(5), "d": torch.randn(3).double()},
        "ema": {"ema": {"w": torch.randn(3)}, "model": {"w": torch.randn(3)}, "step": torch.tensor(7)},
    }
    for name, obj in dicts.items():
        b = io.BytesIO()
        torch.save(obj, b)
        data = b.getvalue()
        write(out, "zip", name + ".pt", data)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for n in z.namelist():
                if n.endswith("data.pkl"):
                    write(out, "pickle", name + ".pkl", z.read(n))
        b = io.BytesIO()
        torch.save(obj, b, _use_new_zipfile_serialization=False)
        write(out, "legacy", name + ".pt", b.getvalue())


def generic_zips(out):
    for name, method in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED),
                         ("bzip2", zipfile.ZIP_BZIP2), ("lzma", zipfile.ZIP_LZMA)):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", method) as z:
            z.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
            z.writestr("archive/data/0", b"\0" * 24)
            z.writestr("archive/byteorder", b"little")
        write(out, "zip", name + ".zip", b.getvalue())
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        with z.open("big/data.pkl", "w", force_zip64=True) as f:
            f.write(pickle.dumps([1, 2, 3]))
    write(out, "zip", "zip64.zip", b.getvalue())


def pickles(out):
    objs = [{"a": 1, "b": [1.5, None, True], "c": (1, 2, 3)}, collections.OrderedDict(x=b"\x00\xff", y="s" * 300),
            [{"k": -(2 ** 40)}, 2 ** 31, -1]]
    for i, o in enumerate(objs):
        for proto in (2, 3, 4, 5):
            write(out, "pickle", "py_%d_%d" % (i, proto), pickle.dumps(o, protocol=proto))


def safetensors(out):
    def st(name, tensors, meta=None):
        h, off, blob = {}, 0, b""
        if meta:
            h["__metadata__"] = meta
        for n, (dt, shape, data) in tensors.items():
            h[n] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
            off += len(data)
            blob += data
        hb = json.dumps(h).encode()
        write(out, "safetensors", name, struct.pack("<Q", len(hb)) + hb + blob)
    st("a", {"w": ("F32", [2, 2], b"\0" * 16), "b": ("F16", [3], b"\1" * 6)}, {"format": "reddiff", "config": "{}"})
    st("b", {"x": ("BF16", [], b"\0\0"), "e": ("F64", [0, 4], b"")})


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(0)
    imgs = images(rng)
    for n, d in imgs.items():
        write(out, "image", n, d)
    for n, d in arrays(rng).items():
        write(out, "npy", n, d)
    mask, kernel = masks_and_kernels(rng, imgs)
    for n, d in mask.items():
        write(out, "mask", n, d)
    for n, d in kernel.items():
        write(out, "kernel", n, d)
    checkpoints(out)
    generic_zips(out)
    pickles(out)
    safetensors(out)
    for t in sorted(os.listdir(out)):
        files = os.listdir(os.path.join(out, t))
        print("seeds.py: %-12s %3d files, %7d bytes" % (t, len(files), sum(os.path.getsize(os.path.join(out, t, f)) for f in files)))


if __name__ == "__main__":
    main()
