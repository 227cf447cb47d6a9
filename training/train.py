#!/usr/bin/env python3
"""Trains reddiff's bundled ε-prediction ADM UNet on the picture set from build_dataset.sh.

    python3 training/train.py --data DATA --out OUTDIR [--device cuda] [--minutes 20] [--steps N] ...
    python3 training/train.py --data DATA --out OUTDIR --init models/reddiff-default.safetensors ...   (continue)

The network is tests/python/adm_ref.py's make_model, so its state dict has guided-diffusion's key names
and goes through `reddiff convert` like a released checkpoint.

Objective: DDPM ε-prediction MSE, linear β from 1e-4 to 0.02 over T = 1000 steps (float64 schedule, as
guided-diffusion), t uniform in [0, T). learn_sigma is not trained (the loss has no variational term), so
the default config has out_channels 3. --loss_weight min_snr weights each sample's MSE by
min(SNR_t, γ) / SNR_t (Min-SNR-γ, Hang et al. 2023; γ = --snr_gamma, 5), which lowers the weight of the
low-noise timesteps.

Data: every JPEG/PNG under DATA/train (and DATA/val for validation) is loaded once into memory as uint8
(on the GPU when --device cuda). Each sample is a random square crop of side in
[max(short/3, size/max_upscale), short] (short = the picture's short side), resized (antialiased bilinear)
to the training size, and flipped horizontally with probability 1/2; pixels are scaled to [-1, 1].
--crops gives the training sizes and their batch sizes (default "128:64,256:16"); the steps go
round-robin over them (at 256 x 256 the middle attention of the default recipe sees (256 / 32)^2 = 64
tokens, at 128 x 128 16).

Optimisation: AdamW (betas 0.9/0.999), linear warmup, then constant lr (cosine decay to --lr_min over the
run when --steps is given, or over the --minutes budget with --decay_by_time), gradient clipping at 1, bf16
(default on CUDA) or fp16 autocast, EMA of the weights (decay --ema, ramped as min(ema, (1+step)/(10+step)));
the EMA weights are what is validated and exported.

Continuing: --resume (default: OUTDIR/ckpt_latest.pt when it exists) restores the model, the optimiser,
the EMA, the step count, the training seconds and every random stream (crop sampler, timesteps and noise,
torch/numpy/python), so an interrupted run continues exactly. --init FILE starts a new run from earlier
weights — a model_ema.pt state dict or a reddiff model file such as models/reddiff-default.safetensors, whose
config then decides the network — with a fresh optimiser and schedule (what a GPU session does: the
optimiser state, 4x the weights, cannot travel between sessions; training/gpu-session.sh).
--arch medium selects a larger network (ARCHS below).
Each invocation validates once before its first step (the starting weights) and then every --val_every.

Outputs in OUTDIR:
  ckpt_latest.pt   everything to resume (written every --ckpt_every steps and at the end; a run resumes
                   from it when present, with the arguments it was started with unless given again)
  model_ema.pt     torch.save of the EMA state dict (plain dict name -> float32 tensor), also refreshed at
                   every checkpoint
  config.json      the model config (exactly the C++ to_json(AdmConfig) keys)
  train_info.json  schedule, recipe, step count, time, FLOPs and parameter count
  loss.csv         step, loss, lr, elapsed_s (cumulative training seconds), one row per --log_every steps
  val.csv          step, size, val_loss (EMA weights, fixed crops/timesteps/noise), at the start and every
                   --val_every steps

Default recipe ("bundled-small"): model_channels 64, channel_mult 0.5,0.5,1,1,2,3 (32..192 channels, 6
levels, sizes multiple of 32), num_res_blocks 1, attention at 16 and 8 px of a 256 image (ds 16 and 32)
plus the middle block, 64-channel heads, scale-shift norm, resblock_updown, 3 outputs: 9,790,819 parameters
(37.3 MiB f32, 18.7 MiB f16), 25.04 GFLOP per 256 x 256 forward, 6.24 at 128 x 128 (training/flops.py
--preset bundled_small; the same count as the C++ forward_flops). Attention sees 256 / 64 / 64 tokens at
256 x 256 (16 x 16 at ds 16, 8 x 8 at ds 32 and in the middle).

Runs on torch 1.13 (CPU) and torch 2.x (CUDA; --compile uses torch.compile, attention goes through
scaled_dot_product_attention when available).
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
sys.path.insert(0, HERE)
import adm_ref  # noqa: E402
import flops  # noqa: E402

RECIPE = {
    "image_size": 256, "model_channels": 64, "channel_mult": "0.5,0.5,1,1,2,3", "num_res_blocks": 1,
    "attention_resolutions": "16,8", "num_head_channels": 64,
}
# --arch medium: twice the residual blocks and wider deep levels (32..256 channels): 21.7 M parameters,
# 41.68 GFLOP per 256 x 256 forward (1.66x the small one); docs/models.md has its CPU cost.
ARCHS = {
    "small": {},
    "medium": {"channel_mult": "0.5,0.5,1,2,2,4", "num_res_blocks": 2},
}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="train the bundled ADM UNet (ε-prediction)")
    ap.add_argument("--data", required=True, help="folder with train/ and val/ (training/build_dataset.sh)")
    ap.add_argument("--out", required=True)
    g = ap.add_argument_group("model (ignored when resuming, or with --init FILE.safetensors: the shapes come from the file)")
    g.add_argument("--arch", choices=sorted(ARCHS), default="small",
                   help="small: the bundled recipe (default); medium: a larger UNet (the flags below override either)")
    g.add_argument("--image_size", type=int, default=RECIPE["image_size"],
                   help="reference size for attention_resolutions (the net runs at any multiple of 2^(levels-1))")
    g.add_argument("--model_channels", type=int, default=RECIPE["model_channels"])
    g.add_argument("--channel_mult", default=None, help="default: the --arch's")
    g.add_argument("--num_res_blocks", type=int, default=None, help="default: the --arch's")
    g.add_argument("--attention_resolutions", default=RECIPE["attention_resolutions"], help="pixel sizes, '' = none")
    g.add_argument("--num_head_channels", type=int, default=RECIPE["num_head_channels"])
    g.add_argument("--num_heads", type=int, default=4, help="used when --num_head_channels is -1")
    g.add_argument("--use_new_attention_order", action="store_true")
    g.add_argument("--no_scale_shift_norm", action="store_true")
    g.add_argument("--dropout", type=float, default=0.0)
    g = ap.add_argument_group("training")
    g.add_argument("--crops", default="128:64,256:16", help="size:batch pairs, used round-robin by step")
    g.add_argument("--max_upscale", type=float, default=1.0,
                   help="largest crop-to-training-size upscale factor (1: crops are never enlarged)")
    g.add_argument("--lr", type=float, default=2e-4)
    g.add_argument("--lr_min", type=float, default=2e-5, help="end of the cosine decay (only with --steps)")
    g.add_argument("--warmup", type=int, default=500)
    g.add_argument("--weight_decay", type=float, default=0.0)
    g.add_argument("--grad_clip", type=float, default=1.0)
    g.add_argument("--ema", type=float, default=0.999)
    g.add_argument("--steps", type=int, default=0, help="total steps (0: until --minutes runs out)")
    g.add_argument("--init", default="",
                   help="start a new run from these weights: a state dict (.pt, e.g. model_ema.pt) or a reddiff model "
                        "file (.safetensors, e.g. models/reddiff-default.safetensors; its config decides the shapes)")
    g.add_argument("--resume", nargs="?", const="auto", default="auto",
                   help="continue from a checkpoint: PATH (a ckpt_latest.pt or a run folder), or 'auto' (default: "
                        "OUTDIR/ckpt_latest.pt when it exists) or 'no' (start afresh, ignoring one there)")
    g.add_argument("--loss_weight", choices=["none", "min_snr"], default="none",
                   help="min_snr: weight each sample's eps-MSE by min(SNR_t, gamma) / SNR_t (Hang et al. 2023)")
    g.add_argument("--snr_gamma", type=float, default=5.0, help="gamma of --loss_weight min_snr")
    g.add_argument("--decay_by_time", action="store_true",
                   help="cosine decay to --lr_min over the --minutes budget of this invocation (no --steps)")
    g.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget of this invocation (0: none)")
    g.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    g.add_argument("--amp", choices=["bf16", "fp16", "none"], default=None, help="default bf16 on cuda, none on cpu")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (torch >= 2)")
    g.add_argument("--channels_last", action="store_true")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--log_every", type=int, default=50)
    g.add_argument("--ckpt_every", type=int, default=1000)
    g.add_argument("--val_every", type=int, default=1000)
    g.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave the default)")
    return ap.parse_args(argv)


def make_cfg(a):
    arch = dict(RECIPE, **ARCHS[a.arch])
    cm = a.channel_mult or arch["channel_mult"]
    mult = [float(x) if "." in x else int(x) for x in cm.split(",")]
    return adm_ref.default_config(
        image_size=a.image_size, model_channels=a.model_channels, channel_mult=mult,
        num_res_blocks=a.num_res_blocks if a.num_res_blocks is not None else arch["num_res_blocks"],
        attention_resolutions=[int(x) for x in a.attention_resolutions.split(",") if x.strip()],
        num_heads=a.num_heads, num_head_channels=a.num_head_channels,
        use_scale_shift_norm=not a.no_scale_shift_norm, use_new_attention_order=a.use_new_attention_order,
        learn_sigma=False, dropout=a.dropout)


def read_model_file(path):
    """A reddiff model file (safetensors, docs/format.md) -> (state dict of float32 tensors, config dict).
    Read with numpy (the safetensors package is not needed): an 8-byte header length, a JSON header, the data."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    if meta.get("format") != "reddiff" or meta.get("arch") != "adm":
        raise SystemExit("%s is not a reddiff ADM model file" % path)
    dt = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    sd = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        if t["dtype"] == "BF16":
            u = np.frombuffer(data[b:e], dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(data[b:e], dtype=dt[t["dtype"]])
        sd[name] = torch.from_numpy(arr.astype(np.float32).reshape(t["shape"]))
    cfg = json.loads(meta["config"])
    sched = json.loads(meta["schedule"])
    if sched != {"kind": "linear", "num_timesteps": 1000}:
        raise SystemExit("%s: train.py trains the linear T = 1000 schedule, not %s" % (path, sched))
    return sd, cfg


def load_init(path):
    """--init: (state dict, config or None) from a .safetensors model file or a torch state dict."""
    if path.endswith(".safetensors"):
        return read_model_file(path)
    sd = torch.load(path, map_location="cpu")
    return {k: v.float() for k, v in sd.items()}, None


def resolve_resume(a):
    if a.resume == "no":
        return None
    path = os.path.join(a.out, "ckpt_latest.pt") if a.resume == "auto" else a.resume
    if os.path.isdir(path):
        path = os.path.join(path, "ckpt_latest.pt")
    if not os.path.exists(path):
        if a.resume != "auto":
            raise SystemExit("--resume: no checkpoint at %s" % path)
        return None
    return path


def min_snr_weight(snr, gamma):
    """Min-SNR-gamma loss weight for eps-prediction: min(SNR, gamma) / SNR."""
    return torch.clamp(snr, max=gamma) / snr


def linear_alphas_cumprod(T=1000):
    scale = 1000.0 / T
    betas = np.linspace(scale * 1e-4, scale * 0.02, T, dtype=np.float64)
    return np.cumprod(1.0 - betas)


# --------------------------------------------------------------------------------------------- data

def load_images(folder, device):
    from PIL import Image
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    imgs = []
    for f in files:
        with Image.open(os.path.join(folder, f)) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.uint8)
        imgs.append(torch.from_numpy(a.copy()).permute(2, 0, 1).contiguous().to(device))
    return files, imgs


def resize(x, size):
    try:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    except TypeError:  # old torch without antialias
        return F.interpolate(x, size=(size, size), mode="area")


class CropSampler:
    def __init__(self, imgs, max_upscale, seed):
        self.imgs = imgs
        self.max_upscale = max_upscale
        self.rng = random.Random(seed)
        # Pick pictures in proportion to their area (a panorama offers more distinct crops).
        area = np.array([im.shape[1] * im.shape[2] for im in imgs], dtype=np.float64)
        self.cum = np.cumsum(area / area.sum())

    def crop(self, im, size, side, top, left, flip):
        c = im[:, top:top + side, left:left + side].unsqueeze(0).float()
        if side != size:
            c = resize(c, size)
        if flip:
            c = c.flip(-1)
        return c / 127.5 - 1.0

    def batch(self, size, n):
        out = []
        for _ in range(n):
            i = int(np.searchsorted(self.cum, self.rng.random(), side="right"))
            im = self.imgs[min(i, len(self.imgs) - 1)]
            h, w = im.shape[1:]
            short = min(h, w)
            lo = int(math.ceil(max(short / 3.0, size / self.max_upscale)))
            lo = min(lo, short)
            side = self.rng.randint(lo, short)
            top = self.rng.randint(0, h - side)
            left = self.rng.randint(0, w - side)
            out.append(self.crop(im, size, side, top, left, self.rng.random() < 0.5))
        return torch.cat(out, 0).clamp_(-1, 1)


# --------------------------------------------------------------------------------------------- helpers

class EMA:
    def __init__(self, model, decay):
        self.decay = decay
        self.src = list(model.state_dict().values())  # views of the live parameters (updated in place)
        self.set_shadow({k: v.detach().float().clone() for k, v in model.state_dict().items()})

    def set_shadow(self, shadow):
        self.shadow = shadow
        self.dst = list(shadow.values())

    @torch.no_grad()
    def update(self, step):
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        src = [v.float() for v in self.src]
        if hasattr(torch, "_foreach_mul_"):
            torch._foreach_mul_(self.dst, d)
            torch._foreach_add_(self.dst, src, alpha=1.0 - d)
        else:
            for e, v in zip(self.dst, src):
                e.mul_(d).add_(v, alpha=1.0 - d)


def lr_at(a, step, time_fraction=0.0):
    if a.warmup and step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.steps:
        p = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    elif a.decay_by_time:
        p = min(1.0, time_fraction)
    else:
        return a.lr
    return a.lr_min + 0.5 * (a.lr - a.lr_min) * (1 + math.cos(math.pi * p))


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


@torch.no_grad()
def validate(model_eval, val_imgs, sizes, sqrt_ab, sqrt_1mab, device, autocast):
    """EMA-weight ε-MSE on fixed centre crops of every val picture, 8 fixed timesteps, fixed noise."""
    res = {}
    if not val_imgs:
        return res
    ts = torch.tensor([10, 50, 100, 200, 350, 500, 700, 900], device=device)
    for size in sizes:
        xs = []
        for im in val_imgs:
            h, w = im.shape[1:]
            s = min(h, w)
            c = im[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].unsqueeze(0).float()
            xs.append(resize(c, size) / 127.5 - 1.0)
        x0 = torch.cat(xs).clamp(-1, 1)
        g = torch.Generator(device="cpu").manual_seed(1234 + size)
        tot, n = 0.0, 0
        for t in ts:
            eps = torch.randn(x0.shape, generator=g).to(device)
            tt = t.repeat(x0.shape[0])
            xt = sqrt_ab[tt].view(-1, 1, 1, 1) * x0 + sqrt_1mab[tt].view(-1, 1, 1, 1) * eps
            with autocast():
                pred = model_eval(xt, tt)[:, :3].float()
            tot += F.mse_loss(pred, eps, reduction="sum").item()
            n += eps.numel()
        res[size] = tot / n
    return res


# --------------------------------------------------------------------------------------------- main

def main(argv=None):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    ckpt_path = os.path.join(a.out, "ckpt_latest.pt")
    resume_path = resolve_resume(a)
    # weights_only=False: the checkpoint holds the random states too (numpy arrays, tuples); it is our own file.
    resume = torch.load(resume_path, map_location="cpu", weights_only=False) if resume_path else None
    init_sd = None
    if resume is not None:
        # The model shape comes from the checkpoint; budget/step/logging arguments come from this call.
        cfg = resume["cfg"]
        print("resuming from %s at step %d" % (resume_path, resume["step"]))
    elif a.init:
        init_sd, init_cfg = load_init(a.init)
        cfg = init_cfg if init_cfg is not None else make_cfg(a)
        cfg = dict(cfg, learn_sigma=False)
    else:
        cfg = make_cfg(a)
    adm_ref.check_config(cfg)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    cuda = device.type == "cuda"
    amp = a.amp or ("bf16" if cuda else "none")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(a.seed)

    crops = []
    for item in a.crops.split(","):
        s, b = item.split(":")
        crops.append((int(s), int(b)))
    mult = adm_ref.size_multiple(cfg)
    for s, _ in crops:
        if s % mult:
            raise SystemExit("crop size %d is not a multiple of %d (2^(levels-1))" % (s, mult))

    files, imgs = load_images(os.path.join(a.data, "train"), device)
    vdir = os.path.join(a.data, "val")
    vfiles, vimgs = load_images(vdir, device) if os.path.isdir(vdir) else ([], [])
    if not imgs:
        raise SystemExit("no training images in %s/train" % a.data)
    mb = sum(im.numel() for im in imgs) / 2**20
    print("data: %d train pictures (%.1f MB uint8 on %s), %d val" % (len(imgs), mb, device, len(vimgs)))

    model = adm_ref.make_model(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    if hasattr(F, "scaled_dot_product_attention"):
        model.use_sdpa = True
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), weight_decay=a.weight_decay)
    ema = EMA(model, a.ema)
    use_scaler = cuda and amp == "fp16"
    if hasattr(torch.amp, "GradScaler"):  # torch >= 2.3
        scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    else:
        scaler = torch.cuda.amp.GradScaler(enabled=use_scaler)
    step, elapsed = 0, 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["opt"])
        ema.set_shadow({k: v.to(device) for k, v in resume["ema"].items()})
        if "scaler" in resume and scaler.is_enabled():
            scaler.load_state_dict(resume["scaler"])
        step, elapsed = resume["step"], resume["elapsed"]
    elif a.init:
        # A new run that starts from earlier weights (e.g. a longer run continuing a finished one): the model
        # and its EMA start equal to them; the optimiser, step count and lr schedule start afresh.
        model.load_state_dict(init_sd)
        ema.set_shadow({k: v.detach().float().clone().to(device) for k, v in model.state_dict().items()})
        print("initialised from %s" % a.init)
    rng_state = resume.get("rng") if resume is not None else None
    del resume, init_sd

    fwd = model
    if a.compile:
        fwd = torch.compile(model)
    eval_model = adm_ref.make_model(cfg).to(device).eval()
    if hasattr(F, "scaled_dot_product_attention"):
        eval_model.use_sdpa = True

    def autocast():
        if amp == "none":
            return torch.autocast(device_type=device.type, enabled=False)
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)

    ac = torch.tensor(linear_alphas_cumprod(1000))
    sqrt_ab = ac.sqrt().float().to(device)
    sqrt_1mab = (1 - ac).sqrt().float().to(device)
    sampler = CropSampler(imgs, a.max_upscale, a.seed * 1000003 + step)
    gen = torch.Generator(device=device).manual_seed(a.seed * 7919 + step)
    if rng_state is not None:  # continue the exact random streams of the interrupted run
        sampler.rng.setstate(rng_state["sampler"])
        gen.set_state(rng_state["gen"])
        torch.set_rng_state(rng_state["torch"])
        if cuda and rng_state.get("cuda") is not None:
            torch.cuda.set_rng_state(rng_state["cuda"])
        np.random.set_state(rng_state["numpy"])
        random.setstate(rng_state["python"])
    snr = (ac / (1 - ac)).float().to(device)

    write_json(cfg, os.path.join(a.out, "config.json"))
    info = {
        "schedule": {"kind": "linear", "num_timesteps": 1000}, "objective": "eps-mse",
        "loss_weight": a.loss_weight if a.loss_weight == "none" else "min_snr gamma %g" % a.snr_gamma,
        "params": n_params, "gflop_256": flops.forward_flops(cfg, 256, 256) / 1e9,
        "gflop_128": flops.forward_flops(cfg, 128, 128) / 1e9, "train_pictures": files, "val_pictures": vfiles,
        "args": vars(a), "torch": torch.__version__, "device": str(device), "amp": amp,
    }
    print("model: %s params, %.2f GFLOP at 256x256; amp %s; crops %s" % (
        format(n_params, ","), info["gflop_256"], amp, crops))

    loss_path = os.path.join(a.out, "loss.csv")
    val_path = os.path.join(a.out, "val.csv")
    new_loss = not os.path.exists(loss_path)
    lf = open(loss_path, "a", newline="")
    lw = csv.writer(lf)
    if new_loss:
        lw.writerow(["step", "loss", "lr", "elapsed_s"])
    new_val = not os.path.exists(val_path)
    vf = open(val_path, "a", newline="")
    vw = csv.writer(vf)
    if new_val:
        vw.writerow(["step", "size", "val_loss"])

    def save_all():
        rng = {"sampler": sampler.rng.getstate(), "gen": gen.get_state(), "torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state() if cuda else None, "numpy": np.random.get_state(),
               "python": random.getstate()}
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.shadow, "step": step,
                 "elapsed": elapsed, "cfg": cfg, "args": vars(a), "rng": rng}
        if scaler.is_enabled():
            state["scaler"] = scaler.state_dict()
        atomic_save(state, ckpt_path)
        atomic_save({k: v.detach().float().cpu().contiguous() for k, v in ema.shadow.items()},
                    os.path.join(a.out, "model_ema.pt"))
        info.update({"step": step, "elapsed_s": elapsed})
        write_json(info, os.path.join(a.out, "train_info.json"))

    def run_val():
        eval_model.load_state_dict(ema.shadow)
        r = validate(eval_model, vimgs, sorted(set(s for s, _ in crops)), sqrt_ab, sqrt_1mab, device, autocast)
        for s, v in r.items():
            vw.writerow([step, s, "%.6f" % v])
        vf.flush()
        if r:
            print("  val (EMA) " + "  ".join("%d: %.5f" % (s, v) for s, v in sorted(r.items())))

    # The validation loss where this invocation starts (the initial weights of an --init run, the EMA of a
    # resumed one): what the end of the run is compared with.
    if a.val_every:
        run_val()
    t_start = time.time()
    t_last = t_start
    run_loss, run_n, run_imgs = 0.0, 0, 0
    model.train()
    stop_reason = "steps"
    while True:
        if a.steps and step >= a.steps:
            break
        if a.minutes and time.time() - t_start >= 60.0 * a.minutes:
            stop_reason = "time budget"
            break
        size, bs = crops[step % len(crops)]
        x0 = sampler.batch(size, bs)
        if a.channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        t = torch.randint(0, 1000, (bs,), device=device, generator=gen)
        eps = torch.randn(x0.shape, device=device, generator=gen)
        xt = sqrt_ab[t].view(-1, 1, 1, 1) * x0 + sqrt_1mab[t].view(-1, 1, 1, 1) * eps
        lr = lr_at(a, step, (time.time() - t_start) / (60.0 * a.minutes) if a.minutes else 0.0)
        for pg in opt.param_groups:
            pg["lr"] = lr
        with autocast():
            pred = fwd(xt, t)[:, :3]
        if a.loss_weight == "min_snr":
            per = ((pred.float() - eps) ** 2).mean(dim=(1, 2, 3))
            loss = (min_snr_weight(snr[t], a.snr_gamma) * per).mean()
        else:
            loss = F.mse_loss(pred.float(), eps)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if a.grad_clip > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        scaler.step(opt)
        scaler.update()
        ema.update(step)
        step += 1
        run_loss = run_loss + loss.detach()  # a tensor: no device sync until the log line
        run_n += 1
        run_imgs += bs
        if step % a.log_every == 0:
            now = time.time()
            elapsed += now - t_last
            rate = run_imgs / max(1e-9, now - t_last)
            t_last = now
            mean_loss = float(run_loss) / run_n
            lw.writerow([step, "%.6f" % mean_loss, "%.3e" % lr, "%.1f" % elapsed])
            lf.flush()
            print("step %7d  loss %.5f  lr %.2e  %.1f img/s  %.0f s" % (step, mean_loss, lr, rate, elapsed))
            run_loss, run_n, run_imgs = 0.0, 0, 0
        if a.val_every and step % a.val_every == 0:
            run_val()
        if a.ckpt_every and step % a.ckpt_every == 0:
            elapsed += time.time() - t_last
            t_last = time.time()
            save_all()
    elapsed += time.time() - t_last
    if a.val_every and step % a.val_every:
        run_val()
    save_all()
    lf.close()
    vf.close()
    print("stopped (%s) at step %d after %.0f s of training; wrote %s" % (
        stop_reason, step, elapsed, os.path.join(a.out, "model_ema.pt")))


if __name__ == "__main__":
    main()
