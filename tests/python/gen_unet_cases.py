#!/usr/bin/env python3
"""Reference UNet forward cases for the C++/CUDA ADM engine (a ctest fixture).

    /usr/bin/python3 tests/python/gen_unet_cases.py --out DIR [--only NAME[,NAME...]]

For every case DIR/<case>/ holds:
  model.pt     torch.save(state_dict) (default zip format), float32 tensors with guided-diffusion key names
  config.json  exactly the C++ to_json(AdmConfig) keys plus "schedule": {"kind": "linear", "num_timesteps": 1000}
  x.npy        float32 [N, C, H, W], standard normal, N = 2
  t.npy        int64 [N], uniform in [0, 1000)
  y.npy        int64 [N] class labels (class-conditional cases only)
  out.npy      float32 [N, out_channels, H, W]: the reference output, computed in float64 (model.double()
               with the float32-stored weights upcast, inputs upcast) and then cast to float32
  cot.npy      float32 [N, out_channels, H, W]: a standard normal cotangent v
  grad.npy     float32 [N, C, H, W]: the vector-Jacobian product J^T v of the padded forward w.r.t. x
               (float64 autograd; timesteps and labels constant)
DIR/index.json: {"cases": [names...], "descriptions": {name: what it covers},
                 "padded_hw": {name: [H', W'] the size the network actually runs at (see below)}}

Sizes that are not a multiple of 2^(levels-1) -- convention: the input is reflect-padded at the bottom and
right only (torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")) up to the next multiple, the
network runs at the padded size, and the output is cropped back to the top-left H x W. Case
"odd_size_pad" exercises this (20 x 28 on a 4-level net, multiple 8, padded to 24 x 32).

Weights come from adm_ref.random_init (all non-zero; in particular the out convolutions are not the
zero-init of training), so every block contributes to the output. Everything is seeded: the output is
identical from run to run.

Timestep embedding note: the frequencies and the arguments t*f are formed in float32 exactly like
guided-diffusion (see adm_ref.timestep_embedding); only cos/sin and everything after run in float64.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adm_ref  # noqa: E402

N = 2
SCHEDULE = {"kind": "linear", "num_timesteps": 1000}


def C(**kw):
    return adm_ref.default_config(**kw)


# name: (cfg, (H, W), description)
CASES = [
    ("legacy_updown",
     C(image_size=32, model_channels=32, channel_mult=[1, 2], num_res_blocks=1, attention_resolutions=[16],
       num_head_channels=16, learn_sigma=True),
     (16, 16),
     "legacy qkv order, resblock_updown, scale-shift, learn_sigma, num_head_channels 16 (heads 4 at 64 ch)"),
    ("new_order_heads",
     C(image_size=32, model_channels=32, channel_mult=[1, 2], num_res_blocks=1, attention_resolutions=[16],
       num_heads=2, use_new_attention_order=True, learn_sigma=True),
     (16, 16),
     "new (QKVAttention) order, num_heads 2"),
    ("conv_resample",
     C(image_size=32, model_channels=32, channel_mult=[1, 1, 2], num_res_blocks=1, attention_resolutions=[8],
       num_head_channels=32, resblock_updown=False, conv_resample=True, learn_sigma=False),
     (16, 16),
     "resblock_updown off, conv_resample on (Downsample.op stride-2 conv, Upsample.conv), 3 outputs"),
    ("pool_resample",
     C(image_size=32, model_channels=32, channel_mult=[1, 2, 2], num_res_blocks=1, attention_resolutions=[16],
       num_heads=2, resblock_updown=False, conv_resample=False, learn_sigma=True),
     (16, 16),
     "resblock_updown off, conv_resample off (avg-pool down, plain nearest up, no keys)"),
    ("no_scale_shift",
     C(image_size=32, model_channels=32, channel_mult=[1, 2], num_res_blocks=2, attention_resolutions=[32],
       num_heads=1, use_scale_shift_norm=False, learn_sigma=False),
     (16, 16),
     "use_scale_shift_norm off (additive emb), attention at ds 1, one head, nrb 2"),
    ("class_cond",
     C(image_size=32, model_channels=32, channel_mult=[1, 2], num_res_blocks=1, attention_resolutions=[16],
       num_head_channels=32, num_classes=10, learn_sigma=True),
     (16, 16),
     "class-conditional (label_emb, 10 classes)"),
    ("half_mult",
     C(image_size=32, model_channels=64, channel_mult=[0.5, 1, 2], num_res_blocks=1, attention_resolutions=[16, 8],
       num_heads=4, num_heads_upsample=2, learn_sigma=True),
     (16, 16),
     "channel_mult 0.5 (32-ch level 0 with mc 64), num_heads 4 down / num_heads_upsample 2 up, attention at 2 levels"),
    ("head_channels_override",
     C(image_size=32, model_channels=32, channel_mult=[1, 2], num_res_blocks=1, attention_resolutions=[16],
       num_heads=8, num_heads_upsample=1, num_head_channels=32, use_new_attention_order=True, learn_sigma=True),
     (16, 16),
     "num_head_channels 32 overrides num_heads 8 and num_heads_upsample 1; new order"),
    ("nonsquare",
     C(image_size=32, model_channels=32, channel_mult=[1, 2, 2], num_res_blocks=1, attention_resolutions=[16, 8],
       num_head_channels=16, learn_sigma=True),
     (16, 24),
     "non-square 16 x 24 input, attention on non-square token grids (T = 8x12 and 4x6)"),
    ("odd_size_pad",
     C(image_size=32, model_channels=32, channel_mult=[1, 1, 2, 2], num_res_blocks=1, attention_resolutions=[8],
       num_head_channels=32, learn_sigma=True),
     (20, 28),
     "20 x 28 on a 4-level net (multiple 8): reflect-pad bottom/right to 24 x 32, run, crop"),
    ("nrb3_three_attn",
     C(image_size=32, model_channels=32, channel_mult=[1, 2, 2], num_res_blocks=3, attention_resolutions=[32, 16, 8],
       num_head_channels=32, learn_sigma=False),
     (16, 16),
     "num_res_blocks 3, attention at every level (output blocks with .1 attention and .2 up-ResBlock)"),
    ("odd_30x22_nrb2",
     C(image_size=32, model_channels=32, channel_mult=[1, 2, 2], num_res_blocks=2, attention_resolutions=[8],
       num_head_channels=16, use_new_attention_order=True, resblock_updown=False, conv_resample=True,
       learn_sigma=True),
     (30, 22),
     "30 x 22 (padded to 32 x 24), num_res_blocks 2, new order, conv resampling: the VJP's reflect-pad adjoint"),
    ("ffhq_like",
     C(image_size=32, model_channels=32, channel_mult=[1, 1, 2, 2, 4], num_res_blocks=1, attention_resolutions=[4],
       num_head_channels=32, learn_sigma=True),
     (32, 32),
     "FFHQ-like shape (mult 1,1,2,2,4, nrb 1, attention at one low resolution, 5 levels), 32 x 32"),
]


def run_case(root, name, cfg, hw, desc, seed):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    model = adm_ref.make_model(cfg).eval()
    adm_ref.random_init(model, seed)
    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    torch.save(sd, os.path.join(d, "model.pt"))

    g = torch.Generator().manual_seed(seed + 1)
    h, w = hw
    x = torch.randn(N, cfg["in_channels"], h, w, generator=g, dtype=torch.float32)
    t = torch.randint(0, SCHEDULE["num_timesteps"], (N,), generator=g, dtype=torch.int64)
    y = torch.randint(0, cfg["num_classes"], (N,), generator=g, dtype=torch.int64) if cfg["num_classes"] else None

    # Reference: the float32-stored weights, upcast, in float64.
    model.load_state_dict(sd)
    model.double()
    for p in model.parameters():
        p.requires_grad_(False)
    cot = torch.randn(N, cfg["out_channels"], h, w, generator=g, dtype=torch.float32)
    xd = x.double().requires_grad_(True)
    out = adm_ref.forward_padded(model, xd, t, y)
    (out * cot.double()).sum().backward()
    grad = xd.grad.detach()
    out = out.detach()
    assert out.shape == (N, cfg["out_channels"], h, w), out.shape
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()

    mult = adm_ref.size_multiple(cfg)
    meta = dict(cfg)
    meta["schedule"] = SCHEDULE
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(meta, f, indent=1)
    np.save(os.path.join(d, "x.npy"), x.numpy())
    np.save(os.path.join(d, "t.npy"), t.numpy())
    if y is not None:
        np.save(os.path.join(d, "y.npy"), y.numpy())
    np.save(os.path.join(d, "out.npy"), out.to(torch.float32).numpy())
    np.save(os.path.join(d, "cot.npy"), cot.numpy())
    np.save(os.path.join(d, "grad.npy"), grad.to(torch.float32).numpy())
    return float(out.abs().mean()), [h + (-h) % mult, w + (-w) % mult]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, int(os.environ.get("OMP_NUM_THREADS", "1")))))
    os.makedirs(a.out, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    index = []
    t0 = time.time()
    for i, (name, cfg, hw, desc) in enumerate(CASES):
        if only and name not in only:
            continue
        t1 = time.time()
        mean, padded = run_case(a.out, name, cfg, hw, desc, seed=1000 + 17 * i)
        index.append({"name": name, "description": desc, "padded_hw": padded})
        if a.verbose:
            print("%-24s %5.2fs  mean|out| %.4f" % (name, time.time() - t1, mean))
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump({"cases": [c["name"] for c in index],
                   "descriptions": {c["name"]: c["description"] for c in index},
                   "padded_hw": {c["name"]: c["padded_hw"] for c in index}}, f, indent=1)
    print("gen_unet_cases: %d cases in %s (%.1fs)" % (len(index), a.out, time.time() - t0))


if __name__ == "__main__":
    main()
