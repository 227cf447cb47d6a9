#!/usr/bin/env python3
"""Cost of an ADM UNet configuration: FLOPs per forward, parameters, weight size, attention token counts.

FLOPs follow the C++ reddiff::forward_flops (engine/model_config.cpp): 2 x multiply-adds of every
convolution, linear layer and the two attention products (QK^T and AV); elementwise work is not counted.

    /usr/bin/python3 training/flops.py [--preset NAME] [--model_channels 64 --channel_mult 1,1,2,2,4 ...] [--size 256]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import adm_ref  # noqa: E402


def forward_flops(cfg, h, w):
    f = 0.0
    ted = 4 * cfg["model_channels"]
    mc = cfg["model_channels"]
    ss = cfg["use_scale_shift_norm"]

    def conv(cin, cout, k, hh, ww):
        nonlocal f
        f += 2.0 * cin * cout * k * k * hh * ww

    def linear(i, o):
        nonlocal f
        f += 2.0 * i * o

    def resblock(cin, cout, oh, ow):
        conv(cin, cout, 3, oh, ow)
        linear(ted, 2 * cout if ss else cout)
        conv(cout, cout, 3, oh, ow)
        if cin != cout:
            conv(cin, cout, 1, oh, ow)

    def attention(ch, hh, ww):
        nonlocal f
        t = float(hh) * ww
        conv(ch, 3 * ch, 1, hh, ww)
        f += 2.0 * 2.0 * t * t * ch
        conv(ch, ch, 1, hh, ww)

    linear(mc, ted)
    linear(ted, ted)
    attn_ds = {cfg["image_size"] // r for r in cfg["attention_resolutions"]}
    mult = cfg["channel_mult"]
    lc = [int(m * mc) for m in mult]
    ch, ds, hh, ww = lc[0], 1, h, w
    conv(cfg["in_channels"], ch, 3, hh, ww)
    chans = [ch]
    for level in range(len(mult)):
        for _ in range(cfg["num_res_blocks"]):
            resblock(ch, lc[level], hh, ww)
            ch = lc[level]
            if ds in attn_ds:
                attention(ch, hh, ww)
            chans.append(ch)
        if level != len(mult) - 1:
            if cfg["resblock_updown"]:
                resblock(ch, ch, hh // 2, ww // 2)
            elif cfg["conv_resample"]:
                conv(ch, ch, 3, hh // 2, ww // 2)
            hh, ww, ds = hh // 2, ww // 2, ds * 2
            chans.append(ch)
    resblock(ch, ch, hh, ww)
    attention(ch, hh, ww)
    resblock(ch, ch, hh, ww)
    for level in reversed(range(len(mult))):
        for i in range(cfg["num_res_blocks"] + 1):
            ich = chans.pop()
            resblock(ch + ich, lc[level], hh, ww)
            ch = lc[level]
            if ds in attn_ds:
                attention(ch, hh, ww)
            if level and i == cfg["num_res_blocks"]:
                if cfg["resblock_updown"]:
                    resblock(ch, ch, hh * 2, ww * 2)
                elif cfg["conv_resample"]:
                    conv(ch, ch, 3, hh * 2, ww * 2)
                hh, ww, ds = hh * 2, ww * 2, ds // 2
    conv(lc[0], cfg["out_channels"], 3, hh, ww)
    return f


def attention_layers(cfg, h, w):
    """[(where, channels, heads, tokens)] for every attention layer at input size h x w."""
    out = []
    attn_ds = {cfg["image_size"] // r for r in cfg["attention_resolutions"]}
    mc, mult = cfg["model_channels"], cfg["channel_mult"]
    L = len(mult)

    def heads(ch, up):
        if cfg["num_head_channels"] != -1:
            return ch // cfg["num_head_channels"]
        if up and cfg["num_heads_upsample"] != -1:
            return cfg["num_heads_upsample"]
        return cfg["num_heads"]

    for level in range(L):
        ds = 2 ** level
        if ds in attn_ds:
            ch = int(mult[level] * mc)
            t = (h // ds) * (w // ds)
            out.append(("down L%d x%d" % (level, cfg["num_res_blocks"]), ch, heads(ch, False), t))
            out.append(("up L%d x%d" % (level, cfg["num_res_blocks"] + 1), ch, heads(ch, True), t))
    ds = 2 ** (L - 1)
    ch = int(mult[-1] * mc)
    out.append(("middle", ch, heads(ch, False), (h // ds) * (w // ds)))
    return out


# The default recipe of training/train.py.
BUNDLED_SMALL = adm_ref.default_config(image_size=256, model_channels=64, channel_mult=[0.5, 0.5, 1, 1, 2, 3],
                                       num_res_blocks=1, attention_resolutions=[16, 8], num_head_channels=64,
                                       learn_sigma=False)

PRESETS = {
    "imagenet256_uncond": adm_ref.IMAGENET256_UNCOND,
    "ffhq256": adm_ref.FFHQ256,
    "bundled_small": BUNDLED_SMALL,
}


def cfg_from_args(a):
    base = dict(PRESETS[a.preset]) if a.preset else adm_ref.default_config()
    if a.config:
        with open(a.config) as f:
            base = json.load(f)
        base.pop("schedule", None)
    for k in ("model_channels", "num_res_blocks", "num_head_channels", "num_heads", "image_size"):
        v = getattr(a, k)
        if v is not None:
            base[k] = v
    if a.channel_mult:
        base["channel_mult"] = [float(x) if "." in x else int(x) for x in a.channel_mult.split(",")]
    if a.attention_resolutions is not None:
        base["attention_resolutions"] = [int(x) for x in a.attention_resolutions.split(",") if x]
    if a.learn_sigma is not None:
        base["learn_sigma"] = a.learn_sigma == "true"
        base["out_channels"] = 2 * base["in_channels"] if base["learn_sigma"] else base["in_channels"]
    return base


def add_cfg_args(ap):
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--config", help="a config.json (C++ to_json(AdmConfig) keys)")
    ap.add_argument("--image_size", type=int)
    ap.add_argument("--model_channels", type=int)
    ap.add_argument("--channel_mult")
    ap.add_argument("--num_res_blocks", type=int)
    ap.add_argument("--attention_resolutions", help="pixel sizes relative to image_size, e.g. 32,16 ('' = none)")
    ap.add_argument("--num_head_channels", type=int)
    ap.add_argument("--num_heads", type=int)
    ap.add_argument("--learn_sigma", choices=["true", "false"])


def report(cfg, sizes):
    n_tensors, n_params = adm_ref.param_count(cfg)
    lines = ["params %s (%d tensors): %.1f MB f32, %.1f MB f16" % (
        format(n_params, ","), n_tensors, 4 * n_params / 2**20, 2 * n_params / 2**20)]
    for s in sizes:
        lines.append("forward %dx%d: %.2f GFLOP" % (s, s, forward_flops(cfg, s, s) / 1e9))
        for where, ch, hd, t in attention_layers(cfg, s, s):
            lines.append("   attention %-12s C=%-4d heads=%-2d tokens=%d" % (where, ch, hd, t))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="FLOPs / parameters of an ADM UNet config")
    add_cfg_args(ap)
    ap.add_argument("--size", default="64,128,256", help="comma-separated square input sizes")
    ap.add_argument("--json", action="store_true", help="print the config as JSON too")
    a = ap.parse_args()
    cfg = cfg_from_args(a)
    adm_ref.check_config(cfg)
    if a.json:
        print(json.dumps(cfg))
    print(report(cfg, [int(s) for s in a.size.split(",")]))


if __name__ == "__main__":
    main()
