#!/usr/bin/env python3
"""The PyTorch side of reddiff's benchmarks (docs/benchmarks.md).

The network is tests/python/adm_ref.py's UNetModel (guided-diffusion's architecture and state-dict names)
with random weights. Per architecture, precision and batch size it measures, on CUDA:

  forward           eager, attention as guided-diffusion writes it (einsum + f32 softmax), under no_grad
  forward_sdpa      eager, attention through torch's fused scaled_dot_product_attention (torch >= 2.0)
  forward_compile   torch.compile(model, mode=--compile-mode: max-autotune by default, which autotunes the
                    GEMMs and convolutions and replays CUDA graphs; sdpa attention), in a child process with
                    a time limit; a failure or a timeout is recorded, never fatal
  reddiff_compile   the reddiff_nograd step below with that compiled network (same child, same shapes: no
                    recompilation), what a performance-minded user of the official code would run
  reddiff_nograd    one official RED-diff step (NVlabs/RED-diff algos/reddiff.py): x_t formation, UNet
                    forward under no_grad, the two losses, backward to mu (through the operator only), Adam
  reddiff_official  the same step with the UNet forward recorded by autograd, as the official code runs it
                    (x_t depends on mu; the graph is never used because eps is detached)
  dps               one DPS step as RED-diff's algos/dps.py: forward, x0_hat, per-sample residual norm,
                    gradient w.r.t. x_t through the UNet (backward), DDIM update (eta 0)
  pgdm              one PiGDM step as algos/pgdm.py (noise-free H^+ form, inpainting masks): forward,
                    VJP through the UNet w.r.t. x_t, DDIM update

For each: the median time of individually timed steps (CUDA events), and torch.cuda.max_memory_allocated
over the timed steps (weights included; weights are reported separately). f32 runs with TF32 off (the
engine's f32 is strict FP32 too); f16/bf16 run the model converted with .half()/.bfloat16() (guided-
diffusion's convert_to_fp16 does the same for the torso; GroupNorm and softmax still compute in f32) and
channels_last activations. The operator is inpainting with a centred box (half the side), as reddiff bench.

Also measured in the same run: the device's own ceilings (dense f16, bf16 and strict-f32 8192^3 matrix
products, a 1 GiB device-to-device copy counted as read + write bytes).

On the CPU (--device cpu) only the forward is timed, in f32, with torch.set_num_threads(--threads).

Output: a table on stdout and JSON (--json), rewritten after every measurement so a killed run keeps
what it measured.
"""
import argparse
import datetime
import gc
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import adm_ref  # noqa: E402

GPU_METHODS = ["forward", "forward_sdpa", "reddiff_nograd", "reddiff_official", "dps", "pgdm", "forward_compile",
               "reddiff_compile"]
COMPILE_METHODS = ("forward_compile", "reddiff_compile")
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


# ----------------------------------------------------------------------------------------- configs

def named_config(name):
    """The same named architectures as the engine's named_architecture()."""
    if name in ("imagenet256-uncond", "imagenet256"):
        cfg = dict(adm_ref.IMAGENET256_UNCOND)
        cfg["use_fp16"] = True
        if name == "imagenet256":
            cfg["num_classes"] = 1000
        return cfg
    if name == "ffhq256":
        return dict(adm_ref.FFHQ256)
    if os.path.exists(name):
        with open(name) as f:
            d = json.load(f)
        if "model" in d and "config" in d["model"]:  # a `reddiff bench --json` file
            d = d["model"]["config"]
        elif "config" in d:
            d = d["config"]
        cfg = adm_ref.default_config()
        cfg.update({k: v for k, v in d.items() if k in adm_ref.CONFIG_KEYS})
        return cfg
    raise SystemExit("torch_bench: unknown architecture %r (imagenet256-uncond, imagenet256, ffhq256 or a JSON file)" % name)


def arch_label(name):
    """The name bench/plot.py matches against reddiff bench's records: the architecture for random
    weights, "bundled" for the bundled model, the file's base name otherwise."""
    if os.path.exists(name):
        try:
            with open(name) as f:
                d = json.load(f)
        except (OSError, ValueError):
            return os.path.basename(name)
        m = d.get("model", {}) if isinstance(d, dict) else {}
        if m.get("source") == "random":
            return m.get("name", os.path.basename(name))
        if m.get("source") == "bundled":
            return "bundled"
        if m.get("source") == "file":
            return os.path.basename(m.get("name", name))
        return os.path.basename(name)
    return name


def int_list(s):
    return [int(x) for x in str(s).split(",") if x.strip()]


def str_list(s):
    return [x.strip() for x in str(s).split(",") if x.strip()]


# ----------------------------------------------------------------------------------------- model

def fast_init(model, seed):
    """Random weights of sensible scale, drawn on the model's device (the same distributions as
    adm_ref.random_init, without its float64 host round trip; timings do not depend on the values)."""
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(int(seed))
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.GroupNorm):
                mod.weight.copy_(1 + 0.1 * torch.randn(mod.weight.shape, generator=g, device=mod.weight.device))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g, device=mod.bias.device))
            elif isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g, device=mod.weight.device) / math.sqrt(fan_in))
                mod.bias.copy_(0.05 * torch.randn(mod.bias.shape, generator=g, device=mod.bias.device))
            elif isinstance(mod, nn.Embedding):
                mod.weight.copy_(0.5 * torch.randn(mod.weight.shape, generator=g, device=mod.weight.device))
    model.requires_grad_(False)  # gradients flow to x_t only (DPS, PiGDM), never to the weights
    return model.eval()


def build_model(cfg, device, seed):
    model = adm_ref.make_model(cfg, device=device)
    return fast_init(model, seed)


def count_flops(model, x, t, y):
    """FLOPs of one forward at x's shape (multiply-add = 2), counted with hooks on the executed modules:
    convolutions, linear layers and the two attention products (the engine's forward_flops counts the same)."""
    total = [0.0]
    hooks = []

    def conv_hook(m, inp, out):
        k = 1
        for d in m.kernel_size:
            k *= d
        total[0] += 2.0 * (m.in_channels // m.groups) * k * out.numel()

    def linear_hook(m, inp, out):
        total[0] += 2.0 * m.in_features * out.numel()

    def attn_hook(m, inp, out):
        xx = inp[0]
        n, c = xx.shape[:2]
        tt = xx[0, 0].numel()
        total[0] += 4.0 * n * tt * tt * c

    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, adm_ref.AttentionBlock):
            hooks.append(m.register_forward_hook(attn_hook))
    try:
        with torch.no_grad():
            model(x, t, y)
    finally:
        for h in hooks:
            h.remove()
    return total[0] / x.shape[0]


# ----------------------------------------------------------------------------------------- timing

class Timer:
    def __init__(self, cuda):
        self.cuda = cuda
        if cuda:
            self.e0 = torch.cuda.Event(enable_timing=True)
            self.e1 = torch.cuda.Event(enable_timing=True)

    def start(self):
        if self.cuda:
            self.e0.record()
        else:
            self.t0 = time.perf_counter()

    def stop_ms(self):
        if self.cuda:
            self.e1.record()
            self.e1.synchronize()
            return self.e0.elapsed_time(self.e1)
        return 1e3 * (time.perf_counter() - self.t0)


def stats(v):
    v = sorted(v)
    n = len(v)
    if not n:
        return {}
    med = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
    return {"median": med, "min": v[0], "max": v[-1], "p90": v[min(n - 1, math.ceil(0.9 * n) - 1)],
            "mean": sum(v) / n, "n": n}


def timed_loop(step, warmup, repeat, max_time, cuda):
    """step(i) runs one iteration; warm-up, then individually timed iterations (at least 3 unless
    repeat < 3, stopping after max_time seconds)."""
    timer = Timer(cuda)
    i = 0
    for _ in range(warmup):
        step(i)
        i += 1
    if cuda:
        torch.cuda.synchronize()
    times = []
    t0 = time.perf_counter()
    for _ in range(repeat):
        timer.start()
        step(i)
        times.append(timer.stop_ms())
        i += 1
        if len(times) >= 3 and time.perf_counter() - t0 > max_time:
            break
    return stats(times)


# ----------------------------------------------------------------------------------------- schedule, operator

def alphas_cumprod(T=1000):
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64).float()
    return torch.cumprod(1 - betas, dim=0)


def box_mask(n, h, w, device):
    """1 = keep, 0 = hole: a centred box with half the short side (reddiff's inpaint --mask box default)."""
    m = torch.ones(n, 1, h, w, device=device)
    b = min(h, w) // 2
    top, left = (h - b) // 2, (w - b) // 2
    m[:, :, top:top + b, left:left + b] = 0
    return m


# ----------------------------------------------------------------------------------------- the methods

class Runner:
    """One model at one precision on one device; builds the step functions of every method."""

    def __init__(self, model, cfg, dtype, device, channels_last):
        self.model, self.cfg, self.dtype, self.device = model, cfg, dtype, device
        self.mf = torch.channels_last if channels_last else torch.contiguous_format
        self.abar = alphas_cumprod().to(device)
        self.labels_for = (lambda n: torch.zeros(n, dtype=torch.long, device=device)) if cfg["num_classes"] > 0 else (lambda n: None)

    def net(self, xt, t):
        """eps_hat = UNet(x_t, t)[:, :3] in float32; x_t is float32 NCHW, cast (with autograd) to the model's dtype."""
        n = xt.shape[0]
        tt = torch.full((n,), int(t), dtype=torch.long, device=self.device)
        out = self.model(xt.to(self.dtype).contiguous(memory_format=self.mf), tt, self.labels_for(n))
        return out[:, :3].float()

    def timesteps(self, count):
        # descending, as the 1000-step schedule visits them; spaced so consecutive calls use different t
        return [999 - (10 * i) % 1000 for i in range(count)]

    # ---- forward
    def forward_step(self, n, h, w):
        x = torch.randn(n, self.cfg["in_channels"], h, w, device=self.device).to(self.dtype).contiguous(memory_format=self.mf)
        y = self.labels_for(n)
        ts = [torch.full((n,), int(t), dtype=torch.long, device=self.device) for t in self.timesteps(8)]

        def step(i):
            with torch.no_grad():
                self.model(x, ts[i % len(ts)], y)
        return step

    # ---- RED-diff (algos/reddiff.py): lambda 0.25, linear weighting, Adam betas (0.9, 0.99); lr 0.5 as the
    #      README's inpainting example (the value does not change the cost)
    def reddiff_step(self, n, h, w, official):
        m = box_mask(n, h, w, self.device)
        x_true = torch.rand(n, 3, h, w, device=self.device) * 2 - 1
        y = x_true * m
        mu = torch.nn.Parameter((y * m).clone())  # mu_0 = H^+(y)
        opt = torch.optim.Adam([mu], lr=0.5, betas=(0.9, 0.99), eps=1e-8, weight_decay=0)
        lam, sigma_x0 = 0.25, 0.0
        ts = self.timesteps(1000)

        def step(i):
            t = ts[i % len(ts)]
            at = self.abar[t]
            noise_x0 = torch.randn_like(mu)
            noise_xt = torch.randn_like(mu)
            x0_pred = mu + sigma_x0 * noise_x0
            xt = at.sqrt() * x0_pred + (1 - at).sqrt() * noise_xt
            if official:
                et = self.net(xt, t)  # recorded by autograd, as the official code runs it
            else:
                with torch.no_grad():
                    et = self.net(xt, t)
            et = et.detach()
            loss_noise = torch.mul((et - noise_xt).detach(), x0_pred).mean()
            e_obs = y - x0_pred * m
            loss_obs = (e_obs ** 2).mean() / 2
            snr_inv = (1 - at).sqrt() / at.sqrt()
            loss = lam * snr_inv * loss_noise + 1.0 * loss_obs
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    # ---- DDIM coefficients shared by DPS and PiGDM (algos/ddim.py; eta 0)
    def ddim_coeffs(self, t, s, eta=0.0):
        at = self.abar[t]
        as_ = self.abar[s] if s >= 0 else torch.ones((), device=self.device)
        c1 = eta * ((1 - at / as_) * (1 - as_) / (1 - at)).clamp(min=0).sqrt()
        c2 = ((1 - as_) - c1 ** 2).clamp(min=0).sqrt()
        return at, as_, c1, c2

    def dps_step(self, n, h, w, zeta=0.5):
        m = box_mask(n, h, w, self.device)
        y = (torch.rand(n, 3, h, w, device=self.device) * 2 - 1) * m
        state = {"x": torch.randn(n, 3, h, w, device=self.device)}
        ts = self.timesteps(1000)

        def step(i):
            t = ts[i % len(ts)]
            s = t - 10
            at, as_, c1, c2 = self.ddim_coeffs(t, s)
            xt = state["x"].detach().requires_grad_(True)
            et = self.net(xt, t)
            x0_pred = (xt - et * (1 - at).sqrt()) / at.sqrt()
            mat = y - x0_pred * m
            mat_norm = mat.reshape(n, -1).norm(dim=1)
            grad = torch.autograd.grad((mat_norm ** 2).sum(), xt)[0]
            coeff = zeta / mat_norm.detach()
            z = torch.randn_like(xt)
            xs = as_.sqrt() * x0_pred.detach() + c1 * z + c2 * et.detach() - coeff.view(n, 1, 1, 1) * grad
            state["x"] = xs.detach().clamp(-10, 10)  # keep random-weight iterates finite
        return step

    def pgdm_step(self, n, h, w, wgt=1.0):
        m = box_mask(n, h, w, self.device)
        y = (torch.rand(n, 3, h, w, device=self.device) * 2 - 1) * m
        state = {"x": torch.randn(n, 3, h, w, device=self.device)}
        ts = self.timesteps(1000)

        def step(i):
            t = ts[i % len(ts)]
            s = t - 10
            at, as_, c1, c2 = self.ddim_coeffs(t, s)
            xt = state["x"].detach().requires_grad_(True)
            et = self.net(xt, t)
            x0_pred = (xt - et * (1 - at).sqrt()) / at.sqrt()
            mat = (y * m - (x0_pred * m) * m).detach()  # H^+ y - H^+ H x0_hat
            mat_x = (mat * x0_pred).sum()
            grad = torch.autograd.grad(mat_x, xt)[0]
            x0 = x0_pred.detach() * (1 - m) + y * m  # in2: known pixels from y
            grad = grad * (1 - m)
            coeff = as_.sqrt() * at.sqrt() * wgt
            z = torch.randn_like(xt)
            xs = as_.sqrt() * x0 + c1 * z + c2 * et.detach() + coeff * grad
            state["x"] = xs.detach().clamp(-10, 10)
        return step


# ----------------------------------------------------------------------------------------- ceilings

def device_ceilings(repeat=10):
    out = {}
    timer = Timer(True)
    n = 8192
    old_tf32 = torch.backends.cuda.matmul.allow_tf32
    for name, dt in (("f16", torch.float16), ("bf16", torch.bfloat16), ("f32", torch.float32)):
        try:
            torch.backends.cuda.matmul.allow_tf32 = False
            a = torch.randn(n, n, device="cuda", dtype=dt)
            b = torch.randn(n, n, device="cuda", dtype=dt)
            c = torch.empty(n, n, device="cuda", dtype=dt)
            reps = repeat if dt != torch.float32 else max(3, repeat // 3)
            for _ in range(2):
                torch.matmul(a, b, out=c)
            torch.cuda.synchronize()
            ms = []
            for _ in range(reps):
                timer.start()
                torch.matmul(a, b, out=c)
                ms.append(timer.stop_ms())
            st = stats(ms)
            out["matmul_%s" % name] = {"n": n, "ms": st, "tflops": 2.0 * n ** 3 / (st["median"] * 1e-3) / 1e12,
                                       "tflops_best": 2.0 * n ** 3 / (st["min"] * 1e-3) / 1e12,
                                       "note": "TF32 off" if name == "f32" else "dense, f32 accumulation (cuBLAS default)"}
            del a, b, c
        except Exception as e:  # noqa: BLE001
            out["matmul_%s" % name] = {"error": str(e).splitlines()[0]}
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old_tf32
    try:
        nbytes = 1 << 30
        src = torch.empty(nbytes // 4, device="cuda", dtype=torch.float32).fill_(1.0)
        dst = torch.empty_like(src)
        for _ in range(2):
            dst.copy_(src)
        torch.cuda.synchronize()
        ms = []
        for _ in range(repeat):
            timer.start()
            dst.copy_(src)
            ms.append(timer.stop_ms())
        st = stats(ms)
        out["copy_d2d"] = {"bytes": nbytes, "ms": st, "gbps_read_plus_write": 2.0 * nbytes / (st["median"] * 1e-3) / 1e9,
                           "gbps_best": 2.0 * nbytes / (st["min"] * 1e-3) / 1e9}
        del src, dst
    except Exception as e:  # noqa: BLE001
        out["copy_d2d"] = {"error": str(e).splitlines()[0]}
    torch.cuda.empty_cache()
    return out


# ----------------------------------------------------------------------------------------- compile (child)

def compile_child(args):
    """Runs in its own process (the parent enforces the time limit): torch.compile timings of the forward
    and of the RED-diff step (--methods), one JSON line per (method, precision, batch) appended to
    --child-out."""
    which = [m for m in str_list(args.methods or "forward_compile") if m in COMPILE_METHODS]
    cfg = named_config(args.arch[0])
    dev = args.device  # cuda from the parent (cpu only to dry-run this code where torch.compile is the identity)
    cuda = dev == "cuda"
    model = build_model(cfg, dev, args.seed)
    model.use_sdpa = True
    for pname in str_list(args.precision):
        dt = DTYPES[pname]
        model.to(dt)
        mf = torch.channels_last if dt != torch.float32 else torch.contiguous_format
        model.to(memory_format=mf)
        try:
            cm = torch.compile(model, mode=args.compile_mode, dynamic=False)
        except Exception as e:  # noqa: BLE001 (torch < 2.0 has no torch.compile)
            with open(args.child_out, "a") as f:
                for n in int_list(args.batch):
                    for m in which:
                        f.write(json.dumps({"method": m, "precision": pname, "batch": n, "status": "error",
                                            "note": (type(e).__name__ + ": " + str(e)).splitlines()[0][:300]}) + "\n")
            return 0
        for n in int_list(args.batch):
            if "forward_compile" in which:
                h = w = args.size[0]

                def make_forward(n=n, h=h, w=w, cm=cm, dt=dt, mf=mf):
                    x = torch.randn(n, cfg["in_channels"], h, w, device=dev).to(dt).contiguous(memory_format=mf)
                    lab = torch.zeros(n, dtype=torch.long, device=dev) if cfg["num_classes"] > 0 else None
                    tt = torch.full((n,), 500, dtype=torch.long, device=dev)

                    def step(i):
                        with torch.no_grad():
                            cm(x, tt, lab)
                    return step
                if not time_compiled(args, "forward_compile", pname, n, make_forward, cuda):
                    return 0
            if "reddiff_compile" in which:
                def make_reddiff(n=n, cm=cm, dt=dt):
                    return Runner(cm, cfg, dt, dev, dt != torch.float32).reddiff_step(n, args.size[0], args.size[0],
                                                                                       official=False)
                if not time_compiled(args, "reddiff_compile", pname, n, make_reddiff, cuda):
                    return 0
    return 0


def time_compiled(args, method, pname, n, make_step, cuda):
    """Times make_step()'s step (its first call compiles, or reuses a compilation of the same shapes) and
    appends the record to --child-out; False on a failure."""
    rec = {"method": method, "precision": pname, "batch": n, "compile_mode": args.compile_mode}
    t0 = time.perf_counter()
    try:
        step = make_step()
        step(0)  # compiles
        if cuda:
            torch.cuda.synchronize()
        rec["compile_s"] = time.perf_counter() - t0
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        rec["ms"] = timed_loop(step, args.warmup, args.repeat, args.max_time, cuda)
        rec["peak_bytes"] = torch.cuda.max_memory_allocated() if cuda else None
        rec["status"] = "ok"
    except Exception as e:  # noqa: BLE001
        rec["status"] = "error"
        rec["note"] = (type(e).__name__ + ": " + str(e)).splitlines()[0][:300]
    with open(args.child_out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    return rec["status"] == "ok"


def run_compile(args, arch, prec_list, batches, size, timeout_s, which):
    """Starts the compile child with a hard time limit; returns its records (partial on timeout)."""
    out_path = os.path.join(args.tmpdir, "compile-%d-%s.jsonl" % (os.getpid(), arch_label(arch).replace("/", "_")))
    if os.path.exists(out_path):
        os.remove(out_path)
    cmd = [sys.executable, os.path.abspath(__file__), "--compile-child", "--child-out", out_path, "--arch", arch,
           "--precision", ",".join(prec_list), "--batch", ",".join(map(str, batches)), "--size", str(size),
           "--repeat", str(args.repeat), "--warmup", str(args.warmup), "--max-time", str(args.max_time),
           "--seed", str(args.seed), "--device", "cuda", "--methods", ",".join(which),
           "--compile-mode", args.compile_mode] + (["--cudnn-benchmark"] if args.cudnn_benchmark else [])
    note = None
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        tail = p.communicate(timeout=max(1, timeout_s))[0].decode(errors="replace")
        if p.returncode != 0:
            note = "child exited %d: %s" % (p.returncode, tail.strip().splitlines()[-1][:300] if tail.strip() else "")
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.communicate()
        note = "timed out after %.0f s (compile time limit)" % (time.perf_counter() - t0)
    recs = []
    if os.path.exists(out_path):
        with open(out_path) as f:
            recs = [json.loads(line) for line in f if line.strip()]
        os.remove(out_path)
    done = {(r["method"], r["precision"], r["batch"]) for r in recs}
    for pn in prec_list:
        for n in batches:
            for m in which:
                if (m, pn, n) not in done:
                    recs.append({"method": m, "precision": pn, "batch": n, "status": "skipped",
                                 "note": note or "not reached (an earlier compile failed)"})
    return recs


# ----------------------------------------------------------------------------------------- main

def is_oom(e):
    return "out of memory" in str(e).lower() or type(e).__name__ == "OutOfMemoryError"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (torch.set_num_threads); 0: torch's default")
    ap.add_argument("--arch", action="append", default=None,
                    help="imagenet256-uncond, imagenet256, ffhq256, or a JSON file (reddiff bench output or a config); repeatable")
    ap.add_argument("--size", default=None, help="image size(s), comma list (default: the model's image_size)")
    ap.add_argument("--precision", default=None, help="comma list of f32,f16,bf16 (default: f16,f32 on cuda, f32 on cpu)")
    ap.add_argument("--batch", default=None, help="comma list (default: 1,4,16 on cuda, 1 on cpu)")
    ap.add_argument("--methods", default=None, help="comma list of " + ",".join(GPU_METHODS) + " (cpu: forward only)")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--max-time", type=float, default=None, help="seconds per timed loop before it stops (>= 3 samples)")
    ap.add_argument("--compile-timeout", type=float, default=120.0, help="seconds for all torch.compile measurements of one model")
    ap.add_argument("--compile-precision", default="f16", help="precisions timed under torch.compile")
    ap.add_argument("--compile-mode", default="max-autotune",
                    help="torch.compile mode: max-autotune (autotuned kernels + CUDA graphs), reduce-overhead, default")
    ap.add_argument("--no-ceilings", action="store_true", help="skip the matmul/copy ceilings")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="torch.backends.cudnn.benchmark = True (autotuned convolutions; slower warm-up). Default: "
                         "PyTorch's default (off), like the engine's default heuristic choice")
    ap.add_argument("--budget-s", type=float, default=0.0, help="stop starting measurements after this many seconds")
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("torch_bench: --device cuda but torch sees no CUDA device")
    if args.repeat is None:
        args.repeat = (10 if args.quick else 30) if cuda else (2 if args.quick else 5)
    if args.warmup is None:
        args.warmup = 2 if cuda else 1
    if args.max_time is None:
        args.max_time = (1.5 if args.quick else 3.0) if cuda else (20.0 if args.quick else 60.0)
    args.arch = args.arch or ["ffhq256"]
    if args.precision is None:
        args.precision = "f16,f32" if cuda else "f32"
    if args.batch is None:
        args.batch = "1,4,16" if cuda else "1"
    sizes_arg = int_list(args.size) if args.size else None
    args.size = sizes_arg or [256]

    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    if args.compile_child:
        sys.exit(compile_child(args))

    methods = str_list(args.methods) if args.methods else (GPU_METHODS if cuda else ["forward"])
    for mname in methods:
        if mname not in GPU_METHODS:
            raise SystemExit("torch_bench: unknown method %r" % mname)
    if not cuda:
        methods = [m for m in methods if m not in COMPILE_METHODS]  # the solver steps only when asked for
    precs = str_list(args.precision)
    for p in precs:
        if p not in DTYPES:
            raise SystemExit("torch_bench: unknown precision %r" % p)
    if not cuda and precs != ["f32"]:
        print("torch_bench: cpu: timing f32 only", file=sys.stderr)
        precs = ["f32"]
    batches = int_list(args.batch)

    t_start = time.perf_counter()
    doc = {
        "tool": "torch_bench",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": {"kind": args.device},
        "settings": {"repeat": args.repeat, "warmup": args.warmup, "max_time_s": args.max_time, "methods": methods,
                     "precisions": precs, "batches": batches, "quick": args.quick, "budget_s": args.budget_s,
                     "tf32": False, "cudnn_benchmark": bool(cuda and args.cudnn_benchmark), "operator": "inpaint, centred box (half the side)"},
        "models": [],
    }
    if cuda:
        p = torch.cuda.get_device_properties(0)
        doc["device"].update({"name": p.name, "memory_bytes": p.total_memory,
                              "compute_capability": "%d.%d" % (p.major, p.minor), "cuda": torch.version.cuda,
                              "cudnn": torch.backends.cudnn.version()})
    else:
        doc["device"].update({"threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
                              "mkldnn": torch.backends.mkldnn.is_available()})

    def save():
        if args.json:
            tmp = args.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=2)
            os.replace(tmp, args.json)

    def over_budget():
        return args.budget_s > 0 and time.perf_counter() - t_start > args.budget_s

    if cuda and not args.no_ceilings:
        t0 = time.perf_counter()
        doc["ceilings"] = device_ceilings(repeat=5 if args.quick else 10)
        doc["ceilings"]["wall_s"] = time.perf_counter() - t0
        c = doc["ceilings"]
        print("ceilings: matmul f16 %.0f, bf16 %.0f, f32 %.1f TFLOP/s; copy %.0f GB/s (read+write)" % (
            c.get("matmul_f16", {}).get("tflops", float("nan")), c.get("matmul_bf16", {}).get("tflops", float("nan")),
            c.get("matmul_f32", {}).get("tflops", float("nan")), c.get("copy_d2d", {}).get("gbps_read_plus_write", float("nan"))),
            file=sys.stderr)
        save()

    dev = args.device
    for arch in args.arch:
        cfg = named_config(arch)
        label = arch_label(arch)
        sizes = sizes_arg or [cfg["image_size"]]
        t0 = time.perf_counter()
        model = build_model(cfg, dev, args.seed)
        params = sum(p.numel() for p in model.parameters())
        entry = {"arch": label, "config": cfg, "parameters": params, "build_s": time.perf_counter() - t0, "results": []}
        doc["models"].append(entry)
        for size in sizes:
            h = w = size
            flops = None
            for pname in precs:
                dt = DTYPES[pname]
                if cuda and dt == torch.bfloat16 and not torch.cuda.is_bf16_supported():
                    entry["results"].append({"method": "*", "precision": pname, "status": "skipped", "note": "no bf16 on this device"})
                    continue
                channels_last = cuda and dt != torch.float32
                model.to(dt)
                model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
                weights_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
                run = Runner(model, cfg, dt, dev, channels_last)
                if flops is None:
                    x1 = torch.randn(1, cfg["in_channels"], h, w, device=dev).to(dt)
                    lab = torch.zeros(1, dtype=torch.long, device=dev) if cfg["num_classes"] > 0 else None
                    flops = count_flops(model, x1, torch.full((1,), 500, dtype=torch.long, device=dev), lab)
                    entry.setdefault("flops_per_image", {})[str(size)] = flops
                for n in batches:
                    for mname in methods:
                        if mname in COMPILE_METHODS:
                            continue
                        rec = {"method": mname, "precision": pname, "batch": n, "size": [h, w]}
                        if mname == "forward_sdpa" and not hasattr(F, "scaled_dot_product_attention"):
                            rec.update(status="skipped", note="torch %s has no scaled_dot_product_attention" % torch.__version__)
                        elif over_budget():
                            rec.update(status="skipped", note="time budget spent")
                        else:
                            tm = time.perf_counter()
                            try:
                                if cuda:
                                    torch.cuda.empty_cache()
                                    torch.cuda.reset_peak_memory_stats()
                                model.use_sdpa = mname == "forward_sdpa"
                                if mname in ("forward", "forward_sdpa"):
                                    step = run.forward_step(n, h, w)
                                elif mname == "reddiff_nograd":
                                    step = run.reddiff_step(n, h, w, official=False)
                                elif mname == "reddiff_official":
                                    step = run.reddiff_step(n, h, w, official=True)
                                elif mname == "dps":
                                    step = run.dps_step(n, h, w)
                                else:
                                    step = run.pgdm_step(n, h, w)
                                st = timed_loop(step, args.warmup, args.repeat, args.max_time, cuda)
                                rec.update(status="ok", ms=st, ms_per_image=st["median"] / n,
                                           images_per_s=1e3 * n / st["median"])
                                if mname.startswith("forward"):
                                    rec["tflops"] = flops * n / (st["median"] * 1e-3) / 1e12
                                if cuda:
                                    rec["peak_bytes"] = torch.cuda.max_memory_allocated()
                                    rec["peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
                                    rec["weights_bytes"] = weights_bytes
                            except Exception as e:  # noqa: BLE001
                                if is_oom(e):
                                    rec.update(status="oom", note=str(e).splitlines()[0][:200])
                                else:
                                    rec.update(status="error", note=(type(e).__name__ + ": " + str(e)).splitlines()[0][:300])
                            finally:
                                model.use_sdpa = False
                                step = None
                                if cuda:
                                    torch.cuda.empty_cache()
                            rec["wall_s"] = time.perf_counter() - tm
                        entry["results"].append(rec)
                        msg = "%s %s %s b%d: %s" % (label, mname, pname, n, rec["status"])
                        if rec["status"] == "ok":
                            msg += ", %.2f ms/step" % rec["ms"]["median"]
                            if "peak_bytes" in rec:
                                msg += ", peak %.0f MiB" % (rec["peak_bytes"] / 2 ** 20)
                        elif "note" in rec:
                            msg += " (%s)" % rec["note"]
                        print(msg, file=sys.stderr, flush=True)
                        save()
        run = step = model = None  # free the eager model before the compile child loads its own
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
        which = [m for m in COMPILE_METHODS if m in methods]
        if cuda and which:
            cprec = [p for p in str_list(args.compile_precision) if p in precs] or precs[:1]
            left = args.budget_s - (time.perf_counter() - t_start) if args.budget_s > 0 else args.compile_timeout
            if left < 20:
                recs = [{"method": m, "precision": p, "batch": n, "status": "skipped",
                         "note": "time budget spent"} for p in cprec for n in batches for m in which]
            else:
                recs = run_compile(args, arch, cprec, batches, sizes[0], min(args.compile_timeout, left), which)
            for r in recs:
                r.setdefault("size", [sizes[0], sizes[0]])
                if r.get("status") == "ok":
                    fl = entry.get("flops_per_image", {}).get(str(sizes[0]))
                    r["ms_per_image"] = r["ms"]["median"] / r["batch"]
                    r["images_per_s"] = 1e3 * r["batch"] / r["ms"]["median"]
                    if fl and r["method"] == "forward_compile":
                        r["tflops"] = fl * r["batch"] / (r["ms"]["median"] * 1e-3) / 1e12
                print("%s %s %s b%d: %s%s" % (label, r["method"], r["precision"], r["batch"], r["status"],
                      (", %.2f ms" % r["ms"]["median"]) if r.get("status") == "ok" else
                      (" (%s)" % r.get("note", ""))), file=sys.stderr)
                entry["results"].append(r)
            save()
    doc["wall_s"] = time.perf_counter() - t_start
    save()
    print_table(doc)
    return 0


def print_table(doc):
    for e in doc["models"]:
        print("\n%s (PyTorch %s, %s)" % (e["arch"], doc["torch"], doc["device"].get("name", "cpu, %s threads" % doc["device"].get("threads"))))
        print("%-17s %-5s %5s %5s %10s %10s %9s %9s %10s" % ("method", "prec", "size", "batch", "ms/step", "ms/image", "img/s", "TFLOP/s", "peak MiB"))
        for r in e["results"]:
            if r.get("status") != "ok":
                print("%-17s %-5s %5s %5s %s%s" % (r["method"], r["precision"], r.get("size", ["-"])[0], r.get("batch", "-"),
                                                 r["status"], (": " + r["note"]) if r.get("note") else ""))
                continue
            print("%-17s %-5s %5d %5d %10.2f %10.2f %9.2f %9s %10s" % (
                r["method"], r["precision"], r["size"][0], r["batch"], r["ms"]["median"], r["ms_per_image"], r["images_per_s"],
                "%.2f" % r["tflops"] if "tflops" in r else "-",
                "%.0f" % (r["peak_bytes"] / 2 ** 20) if "peak_bytes" in r else "-"))
    c = doc.get("ceilings")
    if c:
        print("\nceilings: matmul f16 %.0f / bf16 %.0f / f32 %.1f TFLOP/s, copy %.0f GB/s (read+write)" % (
            c.get("matmul_f16", {}).get("tflops", float("nan")), c.get("matmul_bf16", {}).get("tflops", float("nan")),
            c.get("matmul_f32", {}).get("tflops", float("nan")), c.get("copy_d2d", {}).get("gbps_read_plus_write", float("nan"))))


if __name__ == "__main__":
    sys.exit(main())
