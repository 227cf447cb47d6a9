#!/usr/bin/env python3
"""DDRM reference runs (a ctest fixture): the official algorithm, transcribed to NumPy.

    /usr/bin/python3 tests/python/gen_ddrm_cases.py --out DIR

efficient_generalized_steps of bahjat-kawar/ddrm (functions/denoising.py) with the official GeneralH
(functions/svd_replacement.py: the full SVD of a dense matrix H, torch.svd(some=False)), here numpy's SVD of
the dense matrix of each reddiff operator, built independently below, on tiny images [2, 3, 8, 8]. The
network is the exact eps-predictor of a Gaussian prior x0 ~ N(m, c I):
    eps(x_t, t) = sqrt(1 - ab) (x_t - sqrt(ab) m) / (ab c + 1 - ab).
Timesteps: the official seq = range(0, 1000, 1000 // steps) of the linear schedule (beta 1e-4 .. 0.02).

Noise: the official code draws N(0, 1) per spectral coordinate (the initial x, and per step one draw for
each coordinate in one of three disjoint cases). Here they are drawn up front, z[r] for r = 0 (x_T) and
r = i + 1 (step i), in this script's spectral coordinates, and written as images V z[r] so that reddiff can
take its own coordinates V_reddiff^T V z[r]. DDRM's update acts on each coordinate through its singular
value only, so the two runs agree wherever the two SVDs span the same singular subspaces (always, up to
rounding).

Writes per case DIR/<case>/: x.npy (ground truth [2,3,8,8]), y.npy (the noisy measurement, reddiff's
layout), m.npy ([3,8,8] prior mean), noise.npy ([steps+1, 2, 3, 8, 8] noise images), out.npy (the
official result), meta.json; and DIR/mask.npy ([8, 8] inpainting mask, 1 = keep).
"""
import argparse
import json
import os

import numpy as np

N, C, H, W = 2, 3, 8, 8
D = C * H * W


def reflect(i, n):
    period = 2 * (n - 1)
    i %= period
    return i if i < n else period - i


def blur_matrix_1d(n, k):
    """y[p] = sum_a k[a] x[reflect(p + len//2 - a)]: reddiff's reflect-boundary convolution."""
    m = np.zeros((n, n))
    c = len(k) // 2
    for p in range(n):
        for a in range(len(k)):
            m[p, reflect(p + c - a, n)] += k[a]
    return m


def operator_matrix(task, mask):
    """The dense matrix of reddiff's operator on one image, x and y flattened C-order [C, H, W]."""
    eye_c = np.eye(C)
    if task == "denoise":
        return np.eye(D)
    if task == "inpaint":
        return np.diag(np.tile(mask.reshape(-1), C))
    if task == "colorize":
        row = np.full((1, C), 1.0 / C)
        return np.kron(row, np.eye(H * W))
    if task == "sr4":
        f = 4
        p = np.zeros((H // f, H))
        for i in range(H // f):
            p[i, i * f:(i + 1) * f] = 1.0 / f
        return np.kron(eye_c, np.kron(p, p))
    if task == "deblur":
        sigma, size = 0.8, 7
        d = np.arange(size) - size // 2
        k = np.exp(-d * d / (2 * sigma * sigma))
        k /= k.sum()
        b = blur_matrix_1d(H, k)
        return np.kron(eye_c, np.kron(b, b))
    raise ValueError(task)


class GeneralH:
    """The official GeneralH (torch.svd(H, some=False)), except that exactly-zero singular values are moved
    beyond y's dimension k, as the official Inpainting class has them (there U^T y has the kept pixels only;
    GeneralH would keep them inside k, where with sigma_0 > 0 they fall in the "less noisy" case)."""

    def __init__(self, h):
        u, s, vt = np.linalg.svd(h, full_matrices=True)
        r = int(np.sum(s > 1e-9 * s.max()))
        self.u, self.s, self.v = u[:, :r], s[:r], vt.T

    def V(self, vec):
        return vec.reshape(vec.shape[0], -1) @ self.v.T

    def Vt(self, vec):
        return vec.reshape(vec.shape[0], -1) @ self.v

    def Ut(self, vec):
        return vec.reshape(vec.shape[0], -1) @ self.u

    def singulars(self):
        return self.s


def compute_alpha(betas, t):
    b = np.concatenate([[0.0], betas])
    return np.cumprod(1 - b)[t + 1]


def ddrm_official(x_shape, seq, eps_fn, betas, hf, y0, sigma_0, eta_b, eta_a, eta_c, z):
    """functions/denoising.py efficient_generalized_steps, line by line, with the noise draws taken from z."""
    n = x_shape[0]
    singulars = hf.singulars()
    Sigma = np.zeros(D)
    Sigma[: singulars.shape[0]] = singulars
    U_t_y = hf.Ut(y0)
    k = U_t_y.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        Sig_inv_U_t_y = U_t_y / singulars[:k]

    largest_alphas = compute_alpha(betas, seq[-1])
    largest_sigmas = np.sqrt(1 - largest_alphas) / np.sqrt(largest_alphas)
    large = np.where(singulars * largest_sigmas > sigma_0)[0]
    inv_singulars_and_zero = np.zeros(D)
    inv_singulars_and_zero[large] = sigma_0 / singulars[large]
    init_y = np.zeros((n, D))
    init_y[:, large] = U_t_y[:, large] / singulars[large][None, :]
    remaining_s = np.sqrt(np.clip(largest_sigmas ** 2 - inv_singulars_and_zero ** 2, 0.0, None))
    init_y = init_y + remaining_s[None, :] * z[0]
    init_y = init_y / largest_sigmas
    x = hf.V(init_y)

    seq_next = [-1] + list(seq[:-1])
    xs = [x]
    np.seterr(divide="ignore", invalid="ignore")  # sigma_0 = 0: the "less noisy" case is empty
    for step, (i, j) in enumerate(zip(reversed(seq), reversed(seq_next))):
        at = compute_alpha(betas, i)
        at_next = compute_alpha(betas, j)
        xt = xs[-1]
        et = eps_fn(xt, i)
        x0_t = (xt - et * np.sqrt(1 - at)) / np.sqrt(at)

        sigma = np.sqrt(1 - at) / np.sqrt(at)
        sigma_next = np.sqrt(1 - at_next) / np.sqrt(at_next)
        V_t_x0 = hf.Vt(x0_t)
        SVt_x0 = (V_t_x0 * Sigma)[:, :k]

        falses = np.zeros(V_t_x0.shape[1] - singulars.shape[0], dtype=bool)
        cond_before_lite = singulars * sigma_next > sigma_0
        cond_after_lite = singulars * sigma_next < sigma_0
        cond_before = np.hstack((cond_before_lite, falses))
        cond_after = np.hstack((cond_after_lite, falses))

        std_nextC = sigma_next * eta_c
        sigma_tilde_nextC = np.sqrt(sigma_next ** 2 - std_nextC ** 2)
        std_nextA = sigma_next * eta_a
        sigma_tilde_nextA = np.sqrt(sigma_next ** 2 - std_nextA ** 2)
        diff_sigma_t_nextB = np.sqrt(sigma_next ** 2 - sigma_0 ** 2 / singulars[cond_before_lite] ** 2 * (eta_b ** 2))

        zz = z[step + 1]
        Vt_xt_mod_next = V_t_x0 + sigma_tilde_nextC * hf.Vt(et) + std_nextC * zz
        Vt_xt_mod_next[:, cond_after] = (V_t_x0[:, cond_after] + sigma_tilde_nextA * ((U_t_y - SVt_x0) / sigma_0)[:, cond_after_lite]
                                         + std_nextA * zz[:, cond_after])
        Vt_xt_mod_next[:, cond_before] = (Sig_inv_U_t_y[:, cond_before_lite] * eta_b + (1 - eta_b) * V_t_x0[:, cond_before]
                                          + diff_sigma_t_nextB * zz[:, cond_before])
        xt_mod_next = hf.V(Vt_xt_mod_next)
        xs.append(np.sqrt(at_next) * xt_mod_next)
    return xs[-1]


CASES = [
    # name, task, sigma_y ([0,1] scale), steps, eta, eta_b
    ("inpaint", "inpaint", 0.05, 20, 0.85, 1.0),
    ("sr4", "sr4", 0.0, 20, 0.85, 1.0),
    ("colorize", "colorize", 0.02, 10, 0.5, 0.7),
    ("denoise", "denoise", 0.1, 20, 0.85, 1.0),
    ("deblur", "deblur", 0.05, 20, 0.85, 1.0),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(17)
    mask = (rng.random((H, W)) > 0.5).astype(np.float32)
    np.save(os.path.join(a.out, "mask.npy"), mask)
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    abar = np.cumprod(1 - betas)
    for name, task, sigma_y, steps, eta, eta_b in CASES:
        h = operator_matrix(task, mask)
        hf = GeneralH(h)
        m = 0.5 * rng.standard_normal(D)
        c = 0.3

        def eps_fn(xt, t):
            ab = abar[t]
            return np.sqrt(1 - ab) * (xt - np.sqrt(ab) * m[None, :]) / (ab * c + 1 - ab)

        x = np.clip(m[None, :] + np.sqrt(c) * rng.standard_normal((N, D)), -1.5, 1.5)
        sigma_0 = 2 * sigma_y  # the official args.sigma_0 = 2 * args.sigma_0
        y = x @ h.T + sigma_0 * rng.standard_normal((N, h.shape[0]))
        z = rng.standard_normal((steps + 1, N, D))
        skip = 1000 // steps
        seq = list(range(0, 1000, skip))
        assert len(seq) == steps
        out = ddrm_official((N, C, H, W), seq, eps_fn, betas, hf, y, sigma_0, eta_b, eta, eta, z)
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        y_rows = {"inpaint": (N, C, H, W), "denoise": (N, C, H, W), "deblur": (N, C, H, W), "colorize": (N, 1, H, W),
                  "sr4": (N, C, H // 4, W // 4)}[task]
        np.save(os.path.join(d, "x.npy"), x.reshape(N, C, H, W).astype(np.float32))
        np.save(os.path.join(d, "y.npy"), y.reshape(y_rows).astype(np.float32))
        np.save(os.path.join(d, "m.npy"), m.reshape(C, H, W).astype(np.float32))
        np.save(os.path.join(d, "noise.npy"), hf.V(z.reshape(-1, D)).reshape(steps + 1, N, C, H, W).astype(np.float32))
        np.save(os.path.join(d, "out.npy"), out.reshape(N, C, H, W).astype(np.float32))
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"task": task, "sigma_y": sigma_y, "steps": steps, "eta": eta, "eta_b": eta_b, "c": c}, f)


if __name__ == "__main__":
    main()
