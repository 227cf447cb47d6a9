#!/usr/bin/env python3
"""Reference outputs of the degradation operators, computed independently with NumPy/SciPy/torch (float64).

Writes into --out:
  image.png / image.npy   a real photograph (scikit-image's astronaut, NASA, public domain), resized to 96x128,
                          as an 8-bit PNG and as the [-1, 1] float32 NCHW array the PNG decodes to
  mask_user.png           a 48x64 grey mask (white = keep) for the mask-file case
  kernel_user.npy, kernel_even.npy   user blur kernels (7x5 and 4x6, unnormalised, asymmetric)
  cot_<name>.npy          cotangents for the VJP cases
  <case>.npy              the expected output of each case
  cases.json              [{name, task, args, kind: apply|pinv|vjp, input, cotangent, expected, tol}]
The C++ test (tests/operators/test_reference.cpp) builds each operator from task + args and compares.
"""
import argparse
import json
import os

import numpy as np
import scipy.signal
import torch
from PIL import Image
import skimage.data
import skimage.transform

H, W = 96, 128


def save(out, name, arr):
    np.save(os.path.join(out, name), np.ascontiguousarray(arr, dtype=np.float32))
    return name


# ---------------------------------------------------------------- independent operator definitions
def mask_apply(x, m):
    return x * m[None, None]


def pool(x, r):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // r, r, w // r, r).mean(axis=(3, 5))


def nearest_up(y, r):
    return np.repeat(np.repeat(y, r, axis=2), r, axis=3)


def keys(x, a=-0.5):
    x = np.abs(x)
    return np.where(x <= 1, (a + 2) * x**3 - (a + 3) * x**2 + 1,
                    np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0))


def bicubic_down_1d(v, r, axis):
    """DDRM-style bicubic: 4r taps at offsets t - 2r + 0.5 (in units of r), reflect padding, stride r."""
    t = np.arange(4 * r)
    k = keys((t - 2 * r + 0.5) / r)
    k = k / k.sum()
    v = np.moveaxis(v, axis, -1)
    n = v.shape[-1]
    P = 2 * r
    vp = np.pad(v, [(0, 0)] * (v.ndim - 1) + [(P, P)], mode="reflect")
    out = np.zeros(v.shape[:-1] + (n // r,))
    for i in range(n // r):
        first = i * r - (3 * r) // 2  # first tap for even r
        out[..., i] = vp[..., first + P:first + P + 4 * r] @ k
    return np.moveaxis(out, -1, axis)


def bicubic_matrix(n, r):
    return bicubic_down_1d(np.eye(n), r, axis=0)  # (n/r, n): rows are outputs


def sep_apply(x, mh, mw):
    return np.einsum("ik,nckl,jl->ncij", mh, x, mw)


def conv_reflect(x, k):
    kh, kw = k.shape
    pad = ((0, 0), (0, 0), (kh - 1 - kh // 2, kh // 2), (kw - 1 - kw // 2, kw // 2))
    xp = np.pad(x, pad, mode="reflect")
    out = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[n, c] = scipy.signal.convolve2d(xp[n, c], k, mode="valid")
    return out


def wiener(y, k, lam):
    kh, kw = k.shape
    ph, pw = kh // 2, kw // 2
    yp = np.pad(y, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="reflect")
    Hp, Wp = yp.shape[-2:]
    kimg = np.zeros((Hp, Wp))
    kimg[:kh, :kw] = k
    kimg = np.roll(kimg, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    K = np.fft.fft2(kimg)
    X = np.fft.fft2(yp) * np.conj(K) / (np.abs(K) ** 2 + lam)
    xp = np.real(np.fft.ifft2(X))
    return xp[..., ph:ph + y.shape[2], pw:pw + y.shape[3]]


def gaussian_kernel(sigma, size):
    a = np.arange(size) - size // 2
    g = np.exp(-a**2 / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def fft2c(x):
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def ifft2c(x):
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def phase_pads(h, w, oversample):
    return int(round(oversample / 8 * h)), int(round(oversample / 8 * w))


def phase_apply(x, oversample):
    ph, pw = phase_pads(x.shape[-2], x.shape[-1], oversample)
    xp = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    return fft2c(xp).abs()


def phase_pinv(y, h, w, oversample):
    ph, pw = phase_pads(h, w, oversample)
    v = ifft2c(y.to(torch.complex128)).abs()
    return v[..., ph:ph + h, pw:pw + w]


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)

    photo = skimage.data.astronaut()  # NASA, public domain
    img8 = (skimage.transform.resize(photo, (H, W), anti_aliasing=True) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(img8).save(os.path.join(out, "image.png"))
    x = (img8.astype(np.float64) / 255.0 * 2 - 1).transpose(2, 0, 1)[None]  # [1, 3, H, W]
    save(out, "image.npy", x)

    cases = []

    def case(name, task, args, expected, kind="apply", inp="image.npy", cot=None, tol=2e-5):
        cases.append(dict(name=name, task=task, args=args, kind=kind, input=inp, cotangent=cot,
                          expected=save(out, name + ".npy", expected), tol=tol))

    # inpaint
    m = np.ones((H, W))
    m[(H - 40) // 2:(H - 40) // 2 + 40, (W - 40) // 2:(W - 40) // 2 + 40] = 0
    case("inpaint_box40", "inpaint", ["--mask", "box", "--box-size", "40"], mask_apply(x, m))
    y_box = mask_apply(x, m)
    save(out, "y_inpaint_box40.npy", y_box)
    case("inpaint_box40_pinv", "inpaint", ["--mask", "box", "--box-size", "40"], mask_apply(y_box, m), "pinv",
         "y_inpaint_box40.npy")
    m = np.ones((H, W)); m[:H // 2] = 0
    case("inpaint_half_top", "inpaint", ["--mask", "half", "--side", "top"], mask_apply(x, m))
    m = np.ones((H, W)); m[:, W - W // 2:] = 0
    case("inpaint_half_right", "inpaint", ["--mask", "half", "--side", "right"], mask_apply(x, m))
    small = (rng.random((6, 8)) > 0.4).astype(np.float64)
    user = np.kron(small, np.ones((8, 8)))  # 48 x 64
    user8 = (user * 255).astype(np.uint8)
    user8[user8 == 255] = 200  # grey >= 0.5 keeps
    user8[user8 == 0] = 60
    Image.fromarray(user8).save(os.path.join(out, "mask_user.png"))
    ii = np.minimum(47, np.floor((np.arange(H) + 0.5) * 48 / H).astype(int))
    jj = np.minimum(63, np.floor((np.arange(W) + 0.5) * 64 / W).astype(int))
    m = (user8[ii][:, jj] / 255.0 >= 0.5).astype(np.float64)
    case("inpaint_file_invert", "inpaint", ["--mask", os.path.join(out, "mask_user.png"), "--invert"],
         mask_apply(x, 1 - m))

    # sr
    for r in (4, 8):
        case(f"sr_pool{r}", "sr", ["--scale", str(r)], pool(x, r))
        yp = pool(x, r)
        save(out, f"y_sr_pool{r}.npy", yp)
        case(f"sr_pool{r}_pinv", "sr", ["--scale", str(r)], nearest_up(yp, r), "pinv", f"y_sr_pool{r}.npy")
    for r in (2, 4):
        yb = bicubic_down_1d(bicubic_down_1d(x, r, 2), r, 3)
        case(f"sr_bicubic{r}", "sr", ["--scale", str(r), "--sr-kernel", "bicubic"], yb)
        save(out, f"y_sr_bicubic{r}.npy", yb)
        ph, pw = np.linalg.pinv(bicubic_matrix(H, r)), np.linalg.pinv(bicubic_matrix(W, r))
        case(f"sr_bicubic{r}_pinv", "sr", ["--scale", str(r), "--sr-kernel", "bicubic"], sep_apply(yb, ph, pw),
             "pinv", f"y_sr_bicubic{r}.npy", tol=1e-4)
        cot = rng.standard_normal(yb.shape)
        save(out, f"cot_sr_bicubic{r}.npy", cot)
        case(f"sr_bicubic{r}_vjp", "sr", ["--scale", str(r), "--sr-kernel", "bicubic"],
             sep_apply(cot, bicubic_matrix(H, r).T, bicubic_matrix(W, r).T), "vjp", cot=f"cot_sr_bicubic{r}.npy",
             tol=1e-4)

    # deblur
    kg = gaussian_kernel(2.0, 13)
    case("deblur_gauss2", "deblur", ["--blur", "gaussian", "--blur-sigma", "2", "--blur-size", "13"], conv_reflect(x, kg))
    yg = conv_reflect(x, kg)
    save(out, "y_deblur_gauss2.npy", yg)
    case("deblur_gauss2_pinv", "deblur", ["--blur", "gaussian", "--blur-sigma", "2", "--blur-size", "13"],
         wiener(yg, kg, 1e-3), "pinv", "y_deblur_gauss2.npy", tol=2e-4)
    case("deblur_gauss_default", "deblur", ["--blur-sigma", "1.5"], conv_reflect(x, gaussian_kernel(1.5, 11)))
    ku = np.ones((5, 5)) / 25
    case("deblur_uniform5", "deblur", ["--blur", "uniform", "--blur-size", "5"], conv_reflect(x, ku))
    for name, shape in (("kernel_user", (7, 5)), ("kernel_even", (4, 6))):
        k = rng.random(shape) ** 3
        k[0, 0] += 1.0  # clearly asymmetric: tests the flip of a true convolution
        np.save(os.path.join(out, name + ".npy"), k.astype(np.float32))
        kn = k.astype(np.float32).astype(np.float64)
        kn /= kn.sum()
        case(f"deblur_{name}", "deblur", ["--blur", os.path.join(out, name + ".npy")], conv_reflect(x, kn))
        cot = rng.standard_normal(x.shape)
        save(out, f"cot_deblur_{name}.npy", cot)
        # adjoint of the reflect convolution by autograd through an independent torch implementation
        xt = torch.tensor(x, requires_grad=True)
        kh, kw = kn.shape
        xp = torch.nn.functional.pad(xt, (kw - 1 - kw // 2, kw // 2, kh - 1 - kh // 2, kh // 2), mode="reflect")
        wt = torch.tensor(kn[::-1, ::-1].copy()).expand(3, 1, kh, kw)
        yt = torch.nn.functional.conv2d(xp, wt, groups=3)
        (g,) = torch.autograd.grad((yt * torch.tensor(cot)).sum(), xt)
        case(f"deblur_{name}_vjp", "deblur", ["--blur", os.path.join(out, name + ".npy")], g.numpy(), "vjp",
             cot=f"cot_deblur_{name}.npy", tol=5e-5)
        assert np.allclose(yt.detach().numpy(), conv_reflect(x, kn))

    # colorize, hdr, denoise
    case("colorize", "colorize", [], x.mean(axis=1, keepdims=True))
    yc = x.mean(axis=1, keepdims=True)
    save(out, "y_colorize.npy", yc)
    case("colorize_pinv", "colorize", [], np.repeat(yc, 3, axis=1), "pinv", "y_colorize.npy")
    case("hdr", "hdr", [], np.clip(2 * x, -1, 1))
    save(out, "y_hdr.npy", np.clip(2 * x, -1, 1))
    case("hdr_pinv", "hdr", [], np.clip(2 * x, -1, 1) / 2, "pinv", "y_hdr.npy")
    case("denoise", "denoise", [], x)

    # phase retrieval (torch, as the official code)
    for ov in (2.0, 1.0):
        tag = f"phase_ov{int(ov)}"
        args = ["--oversample", f"{ov:g}"]
        xt = torch.tensor(x, requires_grad=True)
        yt = phase_apply(xt, ov)
        case(tag, "phase-retrieval", args, yt.detach().numpy(), tol=2e-4)
        save(out, f"y_{tag}.npy", yt.detach().numpy())
        case(tag + "_pinv", "phase-retrieval", args, phase_pinv(yt.detach(), H, W, ov).numpy(), "pinv", f"y_{tag}.npy",
             tol=2e-4)
        cot = rng.standard_normal(tuple(yt.shape))
        save(out, f"cot_{tag}.npy", cot)
        (g,) = torch.autograd.grad((yt * torch.tensor(cot)).sum(), xt)
        case(tag + "_vjp", "phase-retrieval", args, g.numpy(), "vjp", cot=f"cot_{tag}.npy", tol=5e-4)

    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"wrote {len(cases)} operator cases to {out}")


if __name__ == "__main__":
    main()
