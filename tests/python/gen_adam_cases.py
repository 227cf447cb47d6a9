#!/usr/bin/env python3
"""Adam parity reference for the RED-diff update kernel (a ctest fixture).

    /usr/bin/python3 tests/python/gen_adam_cases.py --out DIR

torch.optim.Adam(lr, betas=(0.9, 0.99), eps=1e-8) -- RED-diff's optimiser -- run for K steps on a
parameter of P elements with a fixed, pre-drawn gradient sequence. Writes (float32):
  DIR/p0.npy [P]        initial parameter
  DIR/grads.npy [K, P]  the gradient fed at each step
  DIR/traj.npy [K, P]   the parameter after each step
  DIR/meta.json         {"lr": ..., "steps": K}
"""
import argparse
import json
import os

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    g = torch.Generator().manual_seed(5)
    P, K, lr = 1000, 25, 0.05
    p = torch.randn(P, generator=g)
    # Gradients of very different scales per element, including ones near Adam's eps.
    scales = torch.logspace(-7, 1, P)
    grads = torch.randn(K, P, generator=g) * scales
    param = torch.nn.Parameter(p.clone())
    opt = torch.optim.Adam([param], lr=lr, betas=(0.9, 0.99), eps=1e-8)
    traj = []
    for k in range(K):
        opt.zero_grad()
        param.grad = grads[k].clone()
        opt.step()
        traj.append(param.detach().clone())
    np.save(os.path.join(a.out, "p0.npy"), p.numpy().astype(np.float32))
    np.save(os.path.join(a.out, "grads.npy"), grads.numpy().astype(np.float32))
    np.save(os.path.join(a.out, "traj.npy"), torch.stack(traj).numpy().astype(np.float32))
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump({"lr": lr, "steps": K}, f)


if __name__ == "__main__":
    main()
