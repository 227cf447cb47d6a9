#!/usr/bin/env python3
"""Per-operator reference cases for the C++/CUDA kernels (a ctest fixture).

    /usr/bin/python3 tests/python/gen_op_cases.py --out DIR

Every case is a folder DIR/<name>/ with float32 .npy arrays (int64 for timesteps) and a meta.json. All
references are computed with torch in float64 from the float32-rounded inputs, then stored as float32.
Inputs are random and non-zero; layouts are NCHW, conv weights OIHW, linear weights [out, in].
DIR/index.json: {"cases": [names], "ops": {name: op}}.

meta.json always has "op" (below) plus the op's scalars. Files per op:

  op "conv2d"        x [N,Cin,H,W], weight [Cout,Cin,k,k], bias [Cout] -> out [N,Cout,Ho,Wo]
                     meta: stride, pad (symmetric), k.   Ho = (H + 2 pad - k) // stride + 1
                     cases: conv3x3_pad1, conv3x3_pad1_odd, conv3x3_stride2, conv3x3_stride2_odd, conv1x1,
                     conv3x3_wide_few_pixels, conv1x1_wide_few_pixels
  op "group_norm_silu"
                     x [N,C,H,W], gamma [C], beta [C] -> out = SiLU(GN(x) * gamma + beta)
                     meta: groups (32), eps (1e-5), silu (true); "gn_only" has silu false (no SiLU)
                     cases: gn_silu, gn_silu_c96, gn_only
  op "group_norm_scale_shift_silu"
                     x [N,C,H,W], gamma [C], beta [C], scale [N,C], shift [N,C]
                     -> out = SiLU(GN(x) * (1 + scale) + shift)    (GN includes gamma, beta)
                     meta: groups, eps.   case: gn_scale_shift_silu
  op "attention"     qkv [N,3C,T] -> out [N,C,T]     (softmax over keys, scale d^-1/2, d = C / heads)
                     meta: heads, legacy (true: QKVAttentionLegacy per-head [q|k|v] row blocks;
                     false: QKVAttention [all q | all k | all v]), channels, tokens
                     cases: attention_legacy, attention_new, attention_legacy_1head, attention_new_t37
  op "attention_block"
                     x [N,C,H,W], norm_weight [C], norm_bias [C], qkv_weight [3C,C,1], qkv_bias [3C],
                     proj_weight [C,C,1], proj_bias [C] -> out [N,C,H,W] = x + proj(attn(qkv(GN(x))))
                     meta: heads, legacy, groups, eps.   cases: attention_block_legacy, attention_block_new
  op "avg_pool2x2"   x [N,C,H,W] -> out [N,C,H/2,W/2] (kernel 2 stride 2)        case: avg_pool2x2
  op "upsample_nearest2x"
                     x [N,C,H,W] -> out [N,C,2H,2W]                               case: upsample_nearest2x
  op "timestep_embedding"
                     t int64 [N] -> out [N, dim]; meta: dim, max_period (10000).  [cos | sin], frequencies
                     f_i = exp(-ln(10000) * i / half), half = dim // 2; a zero column appended for odd dim.
                     f_i and the arguments t * f_i are formed in float32 exactly as guided-diffusion does;
                     cos/sin of those float32 arguments are evaluated in float64. freqs.npy [half] holds
                     the float32 frequencies.   cases: timestep_embedding_even (dim 128), timestep_embedding_odd (dim 33)
  op "linear"        x [N,in], weight [out,in], bias [out] -> out [N,out]; meta: silu_input (false)
                     "silu_linear" has silu_input true: out = Linear(SiLU(x)) (the ResBlock emb_layers path)
                     cases: linear, silu_linear
  op "silu"          x -> out = x * sigmoid(x)                                     case: silu
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adm_ref  # noqa: E402

D = torch.float64


class Gen:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=1.0, mean=0.0):
        """float32-rounded normal values, never exactly zero, returned as float64."""
        v = (mean + std * torch.randn(*shape, generator=self.g, dtype=D)).to(torch.float32)
        v = torch.where(v == 0, torch.full_like(v, 1e-3), v)
        return v.to(D)


def save(root, name, op, arrays, meta, index):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    for k, v in arrays.items():
        a = v.detach().cpu()
        a = a.numpy() if a.dtype == torch.int64 else a.to(torch.float32).numpy()
        np.save(os.path.join(d, k + ".npy"), a)
    m = {"op": op}
    m.update(meta)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(m, f, indent=1)
    index["cases"].append(name)
    index["ops"][name] = op


def gn(x, gamma, beta, groups=32, eps=1e-5):
    return F.group_norm(x, groups, gamma, beta, eps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = a.out
    os.makedirs(root, exist_ok=True)
    index = {"cases": [], "ops": {}}
    r = Gen(20240601)

    # ---- conv2d
    for name, (n, cin, cout, h, w, k, stride, pad) in {
        "conv3x3_pad1": (2, 32, 64, 12, 10, 3, 1, 1),
        "conv3x3_pad1_odd": (1, 35, 17, 7, 9, 3, 1, 1),
        "conv3x3_stride2": (2, 32, 32, 12, 16, 3, 2, 1),
        "conv3x3_stride2_odd": (1, 16, 24, 9, 11, 3, 2, 1),
        "conv1x1": (2, 96, 64, 8, 6, 1, 1, 0),
        # a few pixels, many channels: with two or more threads the CPU backend splits the GEMM's output
        # channels (three parts of 67, 67, 66; two of 68 for the 1x1)
        "conv3x3_wide_few_pixels": (1, 24, 200, 5, 4, 3, 1, 1),
        "conv1x1_wide_few_pixels": (1, 48, 136, 3, 5, 1, 1, 0),
    }.items():
        x = r.normal(n, cin, h, w)
        wt = r.normal(cout, cin, k, k, std=1 / math.sqrt(cin * k * k))
        b = r.normal(cout, std=0.1)
        out = F.conv2d(x, wt, b, stride=stride, padding=pad)
        save(root, name, "conv2d", {"x": x, "weight": wt, "bias": b, "out": out},
             {"stride": stride, "pad": pad, "k": k}, index)

    # ---- group norm (+ SiLU)
    for name, (n, c, h, w, silu) in {
        "gn_silu": (2, 64, 7, 5, True),
        "gn_silu_c96": (2, 96, 4, 4, True),
        "gn_only": (2, 64, 6, 6, False),
    }.items():
        x = r.normal(n, c, h, w, std=2.0, mean=0.5)
        gamma = r.normal(c, std=0.2, mean=1.0)
        beta = r.normal(c, std=0.2)
        out = gn(x, gamma, beta)
        if silu:
            out = F.silu(out)
        save(root, name, "group_norm_silu", {"x": x, "gamma": gamma, "beta": beta, "out": out},
             {"groups": 32, "eps": 1e-5, "silu": silu}, index)

    n, c, h, w = 2, 64, 6, 7
    x = r.normal(n, c, h, w, std=1.5, mean=-0.3)
    gamma, beta = r.normal(c, std=0.2, mean=1.0), r.normal(c, std=0.2)
    scale, shift = r.normal(n, c, std=0.5), r.normal(n, c, std=0.5)
    out = F.silu(gn(x, gamma, beta) * (1 + scale[:, :, None, None]) + shift[:, :, None, None])
    save(root, "gn_scale_shift_silu", "group_norm_scale_shift_silu",
         {"x": x, "gamma": gamma, "beta": beta, "scale": scale, "shift": shift, "out": out},
         {"groups": 32, "eps": 1e-5}, index)

    # ---- attention core
    for name, (n, c, t, heads, legacy) in {
        "attention_legacy": (2, 64, 48, 2, True),
        "attention_new": (2, 64, 48, 2, False),
        "attention_legacy_1head": (1, 32, 20, 1, True),
        "attention_new_t37": (2, 128, 37, 4, False),
    }.items():
        qkv = r.normal(n, 3 * c, t, std=1.5)
        out = adm_ref.qkv_attention(qkv, heads, legacy)
        save(root, name, "attention", {"qkv": qkv, "out": out},
             {"heads": heads, "legacy": legacy, "channels": c, "tokens": t}, index)

    # ---- whole attention block (GN -> qkv -> attention -> proj_out -> residual)
    for name, legacy in (("attention_block_legacy", True), ("attention_block_new", False)):
        n, c, h, w, heads = 2, 64, 4, 6, 4
        blk = adm_ref.AttentionBlock(c, heads, -1, not legacy).double()
        x = r.normal(n, c, h, w)
        p = {"norm_weight": r.normal(c, std=0.2, mean=1.0), "norm_bias": r.normal(c, std=0.2),
             "qkv_weight": r.normal(3 * c, c, 1, std=1 / math.sqrt(c)), "qkv_bias": r.normal(3 * c, std=0.1),
             "proj_weight": r.normal(c, c, 1, std=1 / math.sqrt(c)), "proj_bias": r.normal(c, std=0.1)}
        with torch.no_grad():
            blk.norm.weight.copy_(p["norm_weight"]), blk.norm.bias.copy_(p["norm_bias"])
            blk.qkv.weight.copy_(p["qkv_weight"]), blk.qkv.bias.copy_(p["qkv_bias"])
            blk.proj_out.weight.copy_(p["proj_weight"]), blk.proj_out.bias.copy_(p["proj_bias"])
            out = blk(x)
        arrays = {"x": x}
        arrays.update(p)
        arrays["out"] = out
        save(root, name, "attention_block", arrays, {"heads": heads, "legacy": legacy, "groups": 32, "eps": 1e-5},
             index)

    # ---- resampling
    x = r.normal(2, 8, 6, 10)
    save(root, "avg_pool2x2", "avg_pool2x2", {"x": x, "out": F.avg_pool2d(x, 2, 2)}, {}, index)
    x = r.normal(2, 8, 3, 5)
    save(root, "upsample_nearest2x", "upsample_nearest2x",
         {"x": x, "out": F.interpolate(x, scale_factor=2, mode="nearest")}, {}, index)

    # ---- timestep embedding
    for name, dim in (("timestep_embedding_even", 128), ("timestep_embedding_odd", 33)):
        t = torch.tensor([0, 1, 7, 250, 999, 500], dtype=torch.int64)
        out = adm_ref.timestep_embedding(t, dim, dtype=D)
        half = dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(0, half, dtype=torch.float32) / half)
        save(root, name, "timestep_embedding", {"t": t, "freqs": freqs, "out": out},
             {"dim": dim, "max_period": 10000}, index)

    # ---- linear
    for name, silu in (("linear", False), ("silu_linear", True)):
        x = r.normal(3, 96)
        wt = r.normal(80, 96, std=1 / math.sqrt(96))
        b = r.normal(80, std=0.1)
        out = F.linear(F.silu(x) if silu else x, wt, b)
        save(root, name, "linear", {"x": x, "weight": wt, "bias": b, "out": out}, {"silu_input": silu}, index)

    x = r.normal(2, 5, 7, std=3.0)
    save(root, "silu", "silu", {"x": x, "out": F.silu(x)}, {}, index)

    # ---- backward (VJP w.r.t. the activation input) by autograd: gy random, gx = J^T gy
    def vjp(f, x, gy):
        x = x.clone().requires_grad_(True)
        (f(x) * gy).sum().backward()
        return x.grad

    for name, (n, cin, cout, h, w, k, stride, pad) in {
        "conv3x3_pad1_vjp": (2, 24, 40, 10, 8, 3, 1, 1),
        "conv3x3_stride2_vjp": (2, 16, 24, 12, 10, 3, 2, 1),
        "conv3x3_stride2_odd_vjp": (1, 16, 8, 9, 7, 3, 2, 1),
        "conv1x1_vjp": (2, 48, 32, 6, 5, 1, 1, 0),
        # many input channels at a few pixels: the gradient's channels are split (two parts, three parts)
        "conv3x3_wide_few_pixels_vjp": (1, 130, 16, 5, 3, 3, 1, 1),
        "conv3x3_stride2_wide_few_pixels_vjp": (1, 192, 8, 7, 6, 3, 2, 1),
    }.items():
        x = r.normal(n, cin, h, w)
        wt = r.normal(cout, cin, k, k, std=1 / math.sqrt(cin * k * k))
        f = lambda v: F.conv2d(v, wt, None, stride=stride, padding=pad)  # noqa: E731
        gy = r.normal(*f(x).shape)
        save(root, name, "conv2d_vjp", {"x": x, "weight": wt, "gy": gy, "gx": vjp(f, x, gy)},
             {"stride": stride, "pad": pad, "k": k}, index)

    for name, (n, c, h, w, mode, silu) in {
        "gn_silu_vjp": (2, 64, 5, 7, "none", True),
        "gn_only_vjp": (2, 96, 4, 6, "none", False),
        "gn_scale_shift_silu_vjp": (2, 64, 6, 5, "scale_shift", True),
        "gn_add_bias_silu_vjp": (2, 64, 4, 4, "add_bias", True),
    }.items():
        x = r.normal(n, c, h, w, std=1.5, mean=0.3)
        gamma, beta = r.normal(c, std=0.2, mean=1.0), r.normal(c, std=0.2)
        mod = r.normal(n, 2 * c if mode == "scale_shift" else c, std=0.5)

        def f(v, mode=mode, silu=silu, gamma=gamma, beta=beta, mod=mod, c=c):
            if mode == "add_bias":
                v = v + mod[:, :, None, None]
            y = gn(v, gamma, beta)
            if mode == "scale_shift":
                y = y * (1 + mod[:, :c, None, None]) + mod[:, c:, None, None]
            return F.silu(y) if silu else y
        gy = r.normal(n, c, h, w)
        save(root, name, "group_norm_vjp", {"x": x, "gamma": gamma, "beta": beta, "mod": mod, "gy": gy,
                                            "gx": vjp(f, x, gy)},
             {"groups": 32, "eps": 1e-5, "mode": mode, "silu": silu}, index)

    for name, (n, c, t, heads, legacy) in {
        "attention_legacy_vjp": (2, 64, 30, 2, True),
        "attention_new_vjp": (2, 64, 30, 4, False),
        "attention_1head_vjp": (1, 32, 17, 1, True),
    }.items():
        qkv = r.normal(n, 3 * c, t, std=1.5)
        f = lambda v, heads=heads, legacy=legacy: adm_ref.qkv_attention(v, heads, legacy)  # noqa: E731
        gy = r.normal(n, c, t)
        save(root, name, "attention_vjp", {"qkv": qkv, "gy": gy, "gx": vjp(f, qkv, gy)},
             {"heads": heads, "legacy": legacy}, index)

    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    print("gen_op_cases: %d cases in %s" % (len(index["cases"]), root))


if __name__ == "__main__":
    main()
