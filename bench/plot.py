#!/usr/bin/env python3
"""Summarise and plot reddiff's benchmark JSON files (docs/benchmarks.md).

  bench/plot.py [--png OUT.png] [--table] [--targets] [--steps N] FILE.json ...

FILEs are any mix of `reddiff bench --json` and `bench/torch_bench.py --json` outputs. The records of both
are put on one footing: per architecture, method, precision and batch size, the milliseconds per step
per image and the peak device memory.

  --png      two panels per architecture: seconds per image for an N-step run (per-step time x N) and
             peak device memory, per method and precision, one bar per batch size (needs matplotlib;
             without it the plot is skipped with a note and the exit status stays 0)
  --table    the side-by-side tables: network forward (reddiff vs PyTorch) and solver steps
  --targets  issue 8's targets on ImageNet-256 (H100): RED-diff step >= 3x faster than PyTorch eager
             f16 at batch 1; f16 forward at batch 16 >= 50 % of the measured dense f16 matmul rate;
             peak memory at batch 1 <= weights + 400 MB
  --markdown print the tables as Markdown (for docs/benchmarks.md)
  --headline one compact table: reddiff's RED-diff step next to PyTorch's RED-diff, DPS and PiGDM steps

Files from `reddiff bench --algo all` (results[i]["algos"]) add the methods on one engine: a table (ms per
step, s/image at each method's default step count, peak memory) and, in the PNG, a third panel per
architecture with the per-step time and the peak memory of every method, the engine's next to PyTorch's.
"""
import argparse
import json
import os
import sys

MIB = 1024.0 * 1024.0


def load(paths):
    engine, torch_docs = [], []
    for p in paths:
        if not os.path.exists(p):
            print("plot: %s is missing (skipped)" % p, file=sys.stderr)
            continue
        try:
            with open(p) as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            print("plot: cannot read %s: %s (skipped)" % (p, e), file=sys.stderr)
            continue
        d["_path"] = p
        if d.get("tool") == "reddiff bench":
            engine.append(d)
        elif d.get("tool") == "torch_bench":
            torch_docs.append(d)
        else:
            print("plot: %s is neither a reddiff bench nor a torch_bench file (skipped)" % p, file=sys.stderr)
    return engine, torch_docs


def arch_key(name):
    return {"imagenet256": "imagenet256-uncond"}.get(name, name) if name else "?"


ALGO_LABEL = {"reddiff": "engine RED-diff", "ddrm": "engine DDRM", "dps": "engine DPS", "pigdm": "engine PiGDM"}
METHOD_ORDER = ["engine RED-diff", "engine DDRM", "engine DPS", "engine PiGDM", "torch reddiff official", "torch dps", "torch pgdm"]


def records(engine, torch_docs):
    """Flat records: impl, arch, size, method, precision, batch, ms_step (whole batch), ms_image, peak, weights, tflops.
    Methods from `--algo` (results[i]["algos"]) are records with method "algo:NAME"."""
    out = []
    for d in engine:
        from_methods = any(a != "reddiff" for a in d.get("settings", {}).get("algos", ["reddiff"]))
        m = d["model"]
        arch = m["name"] if m["source"] == "random" else ("bundled" if m["source"] == "bundled" else os.path.basename(m["name"]))
        size = m["size"][0]
        kind = d["device"]["kind"]
        for r in d["results"]:
            if r.get("status") != "ok":
                out.append({"impl": "reddiff", "arch": arch, "size": size, "method": "forward", "precision": r["precision"],
                            "batch": r["batch"], "status": r.get("status"), "note": r.get("note", ""), "device": kind})
                continue
            mem = r["memory_bytes"]
            peak = mem.get("cuda_used_delta_peak", mem.get("tool_total"))
            base = {"impl": "reddiff", "arch": arch, "size": size, "precision": r["precision"], "batch": r["batch"],
                    "status": "ok", "device": kind, "peak": peak, "tool_total": mem.get("tool_total"),
                    "weights": mem.get("weights"), "cuda_peak": mem.get("cuda_used_delta_peak")}
            fwd = dict(base, method="forward", ms_step=r["forward_ms"]["median"], ms_image=r["forward_ms"]["median"] / r["batch"],
                       tflops=r.get("tflops"), tflops_latency=r.get("tflops_latency"),
                       ms_pipelined=r.get("forward_ms_pipelined"))
            fwd["from_methods"] = from_methods
            out.append(fwd)
            rd = r.get("reddiff")
            if rd:
                out.append(dict(base, method="reddiff", ms_step=rd["step_ms"], ms_image=rd["step_ms_per_image"],
                                s_per_image=rd.get("s_per_image"), fixed_s=rd.get("fixed_s"), from_methods=from_methods))
            for name, a in (r.get("algos") or {}).items():
                rec = dict(base, method="algo:" + name, status=a.get("status"), note=a.get("note", ""))
                if a.get("status") == "ok":
                    am = a.get("memory_bytes", {})
                    rec.update(ms_step=a["step_ms"], ms_image=a["step_ms_per_image"], s_per_image=a.get("s_per_image"),
                               default_steps=a.get("default_steps"), tool_total=am.get("tool_total"),
                               cuda_peak=am.get("cuda_used_delta_peak"), weights=am.get("weights"),
                               peak=am.get("cuda_used_delta_peak", am.get("tool_total")), task=a.get("task"))
                out.append(rec)
    # A methods file also has a forward and (with reddiff) a RED-diff row: keep them only where no other
    # engine file measured the same configuration.
    seen = {(r["arch"], r["size"], r["device"], r["method"], r["precision"], r["batch"]) for r in out
            if r["impl"] == "reddiff" and not r.get("from_methods")}
    out = [r for r in out if not (r.get("from_methods") and
                                  (r["arch"], r["size"], r["device"], r["method"], r["precision"], r["batch"]) in seen)]
    for d in torch_docs:
        kind = d["device"]["kind"]
        for e in d["models"]:
            arch = arch_key(e["arch"])
            for r in e["results"]:
                rec = {"impl": "torch", "arch": arch, "size": (r.get("size") or [0])[0], "method": r["method"],
                       "precision": r["precision"], "batch": r.get("batch"), "status": r.get("status"),
                       "note": r.get("note", ""), "device": kind}
                if r.get("status") == "ok":
                    rec.update(ms_step=r["ms"]["median"], ms_image=r["ms_per_image"], tflops=r.get("tflops"),
                               peak=r.get("peak_bytes"), weights=r.get("weights_bytes"), compile_s=r.get("compile_s"))
                out.append(rec)
    return out


def label(rec):
    if rec["impl"] == "reddiff" and rec["method"].startswith("algo:"):
        return ALGO_LABEL.get(rec["method"][5:], "engine " + rec["method"][5:])
    if rec["impl"] == "reddiff":
        return {"forward": "reddiff forward", "reddiff": "reddiff RED-diff"}[rec["method"]]
    return "torch " + rec["method"].replace("_", " ")


SOLVER_ORDER = ["reddiff RED-diff", "torch reddiff nograd", "torch reddiff official", "torch dps", "torch pgdm"]
FORWARD_ORDER = ["reddiff forward", "torch forward", "torch forward sdpa", "torch forward compile"]


# ----------------------------------------------------------------------------------------- tables

def fmt(v, f="%.2f"):
    return "-" if v is None else f % v


def print_tables(recs, steps, markdown):
    archs = sorted({(r["arch"], r["size"], r["device"]) for r in recs})
    for arch, size, device in archs:
        rs = [r for r in recs if r["arch"] == arch and r["size"] == size and r["device"] == device]
        title = "%s at %dx%d on %s" % (arch, size, size, device)
        # forward
        fw = [r for r in rs if label(r) in FORWARD_ORDER]
        if fw:
            hdr = ["impl / method", "prec", "batch", "ms/forward", "ms/image", "TFLOP/s", "peak MiB", "speed-up vs torch forward"]
            rows = []
            ref = {(r["precision"], r["batch"]): r["ms_step"] for r in fw
                   if label(r) == "torch forward" and r["status"] == "ok"}
            for r in sorted(fw, key=lambda r: (FORWARD_ORDER.index(label(r)), r["precision"], r["batch"] or 0)):
                if r["status"] != "ok":
                    rows.append([label(r), r["precision"], str(r["batch"]), r["status"], r.get("note", "")[:60], "", "", ""])
                    continue
                sp = ref.get((r["precision"], r["batch"]))
                rows.append([label(r), r["precision"], str(r["batch"]), fmt(r["ms_step"]), fmt(r["ms_image"]),
                             fmt(r.get("tflops")), fmt(r["peak"] / MIB if r.get("peak") else None, "%.0f"),
                             ("%.2fx" % (sp / r["ms_step"])) if sp and label(r) != "torch forward" else "-"])
            emit(title + ": network forward", hdr, rows, markdown)
        sv = [r for r in rs if label(r) in SOLVER_ORDER]
        if sv:
            hdr = ["method", "prec", "batch", "ms/step", "ms/step/image", "s/image @%d" % steps, "peak MiB", "speed-up of reddiff"]
            rows = []
            eng = {(r["precision"], r["batch"]): r["ms_step"] for r in sv if label(r) == "reddiff RED-diff" and r["status"] == "ok"}
            for r in sorted(sv, key=lambda r: (SOLVER_ORDER.index(label(r)), r["precision"], r["batch"] or 0)):
                if r["status"] != "ok":
                    rows.append([label(r), r["precision"], str(r["batch"]), r["status"], r.get("note", "")[:60], "", "", ""])
                    continue
                e = eng.get((r["precision"], r["batch"]))
                spi = r["ms_image"] * steps / 1e3
                if r["method"] == "reddiff" and r.get("s_per_image") and str(steps) in r["s_per_image"]:
                    spi = r["s_per_image"][str(steps)]
                rows.append([label(r), r["precision"], str(r["batch"]), fmt(r["ms_step"]), fmt(r["ms_image"]), fmt(spi),
                             fmt(r["peak"] / MIB if r.get("peak") else None, "%.0f"),
                             ("%.2fx" % (r["ms_step"] / e)) if e and label(r) != "reddiff RED-diff" else "-"])
            emit(title + ": solver steps (s/image = per-step x %d; reddiff's adds its fixed cost)" % steps,
                 hdr, rows, markdown)


def print_methods(recs, markdown):
    """The methods on one engine (reddiff bench --algo) next to PyTorch's solvers: ms per step, s/image at each
    engine method's default step count, peak memory."""
    keys = sorted({(r["arch"], r["size"], r["device"]) for r in recs if r["method"].startswith("algo:")})
    for arch, size, device in keys:
        rs = [r for r in recs if (r["arch"], r["size"], r["device"]) == (arch, size, device) and label(r) in METHOD_ORDER]
        hdr = ["method", "prec", "batch", "ms/step", "ms/step/image", "steps", "s/image", "tool MiB", "peak MiB"]
        rows = []
        for r in sorted(rs, key=lambda r: (r["precision"], r["batch"] or 0, METHOD_ORDER.index(label(r)))):
            if r["status"] != "ok":
                rows.append([label(r), r["precision"], str(r["batch"]), r["status"], r.get("note", "")[:60], "", "", "", ""])
                continue
            steps = r.get("default_steps") or []
            spi = "/".join(fmt((r.get("s_per_image") or {}).get(str(n))) for n in steps) if steps else "-"
            rows.append([label(r), r["precision"], str(r["batch"]), fmt(r["ms_step"]), fmt(r["ms_image"]),
                         "/".join(str(n) for n in steps) or "-", spi,
                         fmt(r["tool_total"] / MIB if r.get("tool_total") else None, "%.0f"),
                         fmt(r["peak"] / MIB if r.get("peak") else None, "%.0f")])
        emit("%s at %dx%d on %s: methods on one engine (s/image: extrapolated for each method's default steps)"
             % (arch, size, size, device), hdr, rows, markdown)


def emit(title, hdr, rows, markdown):
    print()
    if markdown:
        print("**%s**\n" % title)
        print("| " + " | ".join(hdr) + " |")
        print("|" + "|".join("---" for _ in hdr) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    print(title)
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(hdr)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))


def print_targets(recs, torch_docs):
    ceil = None
    for d in torch_docs:
        c = d.get("ceilings", {}).get("matmul_f16", {})
        if c.get("tflops"):
            ceil = c["tflops"]
    print("\nissue 8 targets (ImageNet-256-uncond):")
    a = "imagenet256-uncond"

    def find(impl, method, prec, batch):
        for r in recs:
            if (r["arch"] == a and r["impl"] == impl and r["method"] == method and r["precision"] == prec
                    and r["batch"] == batch and r["status"] == "ok"):
                return r
        return None
    eng = find("reddiff", "reddiff", "f16", 1)
    for variant in ("reddiff_official", "reddiff_nograd"):
        tor = find("torch", variant, "f16", 1)
        if eng and tor:
            sp = tor["ms_step"] / eng["ms_step"]
            print("  RED-diff step, f16 batch 1: reddiff %.2f ms, PyTorch eager (%s) %.2f ms: %.2fx (target >= 3x) %s"
                  % (eng["ms_step"], variant, tor["ms_step"], sp, "MET" if sp >= 3 else "MISSED: %.2fx short of 3x" % (3 / sp)))
        else:
            print("  RED-diff step speed-up vs PyTorch eager f16 (%s), batch 1: not measured" % variant)
    fw = find("reddiff", "forward", "f16", 16)
    if fw and ceil and fw.get("tflops"):
        frac = fw["tflops"] / ceil
        print("  f16 forward, batch 16: %.1f TFLOP/s = %.0f %% of the measured dense f16 matmul (%.0f TFLOP/s) (target >= 50 %%) %s"
              % (fw["tflops"], 100 * frac, ceil, "MET" if frac >= 0.5 else "MISSED by %.0f points" % (100 * (0.5 - frac))))
    else:
        print("  f16 forward at batch 16 vs the dense f16 matmul rate: not measured")
    for prec in ("f16", "f32"):
        r = find("reddiff", "reddiff", prec, 1) or find("reddiff", "forward", prec, 1)
        if r and r.get("weights") is not None and r.get("cuda_peak") is not None:
            extra = (r["cuda_peak"] - r["weights"]) / 1e6
            print("  peak memory, %s batch 1: %.0f MiB used (cudaMemGetInfo delta), weights %.0f MiB: weights + %.0f MB (target <= +400 MB) %s; "
                  "tool's accounting %.0f MiB" % (prec, r["cuda_peak"] / MIB, r["weights"] / MIB, extra,
                                                  "MET" if extra <= 400 else "MISSED by %.0f MB" % (extra - 400), r["tool_total"] / MIB))
        elif prec == "f16":
            print("  peak memory at batch 1 vs weights + 400 MB: not measured on a GPU")


def print_headline(recs):
    """One compact table: per architecture, precision and batch, reddiff's RED-diff step next to the
    PyTorch methods (ms per step for the whole batch, and peak memory)."""
    def get(impl, method, arch, size, prec, b):
        for r in recs:
            if (r["impl"], r["method"], r["arch"], r["size"], r["precision"], r["batch"]) == (impl, method, arch, size, prec, b) \
                    and r["status"] == "ok":
                return r
        return None
    keys = sorted({(r["arch"], r["size"], r["precision"], r["batch"]) for r in recs
                   if r["impl"] == "reddiff" and r["method"] == "reddiff" and r["status"] == "ok"})
    if not keys:
        print("\nno RED-diff step measured by reddiff bench")
        return
    print("\nms per step (whole batch) and peak MiB; x = PyTorch time / reddiff time")
    hdr = "%-20s %-4s %3s | %8s %6s | %9s %9s %6s | %8s %8s | %8s %8s %8s %8s"
    print(hdr % ("arch", "prec", "b", "reddiff", "MiB", "torch off", "no_grad", "x", "DPS", "PiGDM",
                 "MiB off", "no_grad", "DPS", "PiGDM"))
    for arch, size, prec, b in keys:
        e = get("reddiff", "reddiff", arch, size, prec, b)
        t = {m: get("torch", m, arch, size, prec, b) for m in ("reddiff_official", "reddiff_nograd", "dps", "pgdm")}
        ms = lambda r: "%.2f" % r["ms_step"] if r else "-"  # noqa: E731
        mb = lambda r: "%.0f" % (r["peak"] / MIB) if r and r.get("peak") else "-"  # noqa: E731
        x = "%.2f" % (t["reddiff_official"]["ms_step"] / e["ms_step"]) if t["reddiff_official"] else "-"
        print(hdr % (arch[:20], prec, b, ms(e), mb(e), ms(t["reddiff_official"]), ms(t["reddiff_nograd"]), x,
                     ms(t["dps"]), ms(t["pgdm"]), mb(t["reddiff_official"]), mb(t["reddiff_nograd"]), mb(t["dps"]), mb(t["pgdm"])))


# ----------------------------------------------------------------------------------------- plot

def plot_methods(ax, rs, title):
    """Per method and precision: ms per step per image (bars, log scale) and peak device memory (markers, right
    axis), the engine's methods (reddiff bench --algo) next to PyTorch's RED-diff, DPS and PiGDM."""
    use = [r for r in rs if label(r) in METHOD_ORDER]
    if not use:
        ax.set_visible(False)
        return
    groups = sorted({(label(r), r["precision"]) for r in use}, key=lambda g: (METHOD_ORDER.index(g[0]), g[1]))
    batches = sorted({r["batch"] for r in use})
    width = 0.8 / max(1, len(batches))
    mem = ax.twinx()
    for bi, b in enumerate(batches):
        xs, ys, mx, my = [], [], [], []
        for gi, (lab, prec) in enumerate(groups):
            r = next((r for r in use if label(r) == lab and r["precision"] == prec and r["batch"] == b), None)
            if r is None:
                continue
            x = gi + (bi - (len(batches) - 1) / 2) * width
            xs.append(x)
            ys.append(r["ms_image"])
            if r.get("peak"):
                mx.append(x)
                my.append(r["peak"] / 2 ** 30)
        ax.bar(xs, ys, width=width, label="ms/step/image, batch %d" % b, color="C%d" % bi, alpha=0.8)
        mem.plot(mx, my, "kD", markersize=5, label="peak GiB" if bi == 0 else None)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(["%s\n%s" % (g[0].replace("engine ", "engine\n").replace("torch ", "torch\n"), g[1]) for g in groups],
                       fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ms per step per image")
    mem.set_ylabel("peak device memory (GiB)")
    mem.set_ylim(bottom=0)
    ax.set_title("%s: methods, step time and peak memory" % title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = mem.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7)


def plot(recs, steps, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001
        print("plot: matplotlib is not available (%s): no PNG written" % e, file=sys.stderr)
        return False
    archs = sorted({(r["arch"], r["size"], r["device"]) for r in recs
                    if r["status"] == "ok" and label(r) in SOLVER_ORDER + FORWARD_ORDER + METHOD_ORDER})
    if not archs:
        print("plot: nothing measured to plot", file=sys.stderr)
        return False
    methods = any(r["method"].startswith("algo:") and r["status"] == "ok" for r in recs)
    ncol = 3 if methods else 2
    fig, axes = plt.subplots(len(archs), ncol, figsize=(7.5 * ncol, 4.8 * len(archs)), squeeze=False)
    for row, (arch, size, device) in enumerate(archs):
        rs = [r for r in recs if r["arch"] == arch and r["size"] == size and r["device"] == device and r["status"] == "ok"]
        if methods:
            plot_methods(axes[row][2], rs, "%s %dx%d (%s)" % (arch, size, size, device))
        solver = [r for r in rs if label(r) in SOLVER_ORDER]
        use = solver if solver else [r for r in rs if label(r) in FORWARD_ORDER]
        order = SOLVER_ORDER if solver else FORWARD_ORDER
        groups = sorted({(label(r), r["precision"]) for r in use}, key=lambda g: (order.index(g[0]), g[1]))
        batches = sorted({r["batch"] for r in use})
        width = 0.8 / max(1, len(batches))
        for col, what in enumerate(("time", "memory")):
            if not use:
                axes[row][col].set_visible(False)
                continue
            ax = axes[row][col]
            for bi, b in enumerate(batches):
                xs, ys = [], []
                for gi, (lab, prec) in enumerate(groups):
                    r = next((r for r in use if label(r) == lab and r["precision"] == prec and r["batch"] == b), None)
                    if r is None:
                        continue
                    if what == "time":
                        v = r["ms_image"] * (steps if solver else 1) / (1e3 if solver else 1)
                        if solver and r["method"] == "reddiff" and r["impl"] == "reddiff" and r.get("s_per_image"):
                            v = r["s_per_image"].get(str(steps), v)
                    else:
                        if not r.get("peak"):
                            continue
                        v = r["peak"] / 2 ** 30
                    xs.append(gi + (bi - (len(batches) - 1) / 2) * width)
                    ys.append(v)
                ax.bar(xs, ys, width=width, label="batch %d" % b, color="C%d" % bi)
            ax.set_xticks(range(len(groups)))
            ax.set_xticklabels(["%s\n%s" % (g[0].replace("torch ", "torch\n").replace("reddiff ", "reddiff\n"), g[1]) for g in groups],
                               fontsize=7)
            if what == "time":
                ax.set_yscale("log")
                ax.set_ylabel(("seconds per image, %d steps" % steps) if solver else "ms per image (forward)")
            else:
                ax.set_ylabel("peak device memory (GiB)")
            ax.set_title("%s %dx%d (%s): %s" % (arch, size, size, device, "time" if what == "time" else "peak memory"), fontsize=9)
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("reddiff vs PyTorch: seconds per image (per-step time x %d) and peak memory" % steps, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("plot: wrote %s" % path, file=sys.stderr)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--png", default=None)
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--targets", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--headline", action="store_true", help="one compact table of the solver steps (reddiff vs PyTorch)")
    ap.add_argument("--steps", type=int, default=1000, help="steps per image for the seconds-per-image figures")
    args = ap.parse_args()
    engine, torch_docs = load(args.files)
    recs = records(engine, torch_docs)
    if args.table or args.markdown or not (args.png or args.headline or args.targets):
        print_tables(recs, args.steps, args.markdown)
        print_methods(recs, args.markdown)
    if args.headline:
        print_headline(recs)
    if args.targets:
        print_targets(recs, torch_docs)
    if args.png:
        plot(recs, args.steps, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
