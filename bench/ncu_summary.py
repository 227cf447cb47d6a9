#!/usr/bin/env python3
"""Summarise an Nsight Compute raw CSV of one reddiff forward (scripts/profile-gpu).

    ncu_summary.py [--bench NAME.bench.json] [--top 15] NAME.csv

NAME.csv is `ncu --csv --page raw --log-file NAME.csv ...`: ncu's own "==PROF==" lines, then a header
row (ID, ..., Kernel Name, ..., one column per counter), a row of units, and one row per kernel launch.
Prints, first line a headline:
  - the kernels' summed duration, and with --bench the forward's median time from the same run (the
    difference is time the GPU was not running a kernel: launch gaps, host work) and the achieved
    TFLOP/s over the summed kernel time (the bench's counted FLOPs);
  - per kind of kernel (cuDNN convolution, cuBLAS GEMM, layout transforms, and each of the engine's own
    kernels): launches, time, share, and the duration-weighted mean of each throughput counter;
  - the longest kernels.
Only the standard library: it runs wherever the CSV is.
"""
import argparse
import csv
import json
import re
import sys

# (pattern on the lower-cased kernel name, kind); the first match wins.
KINDS = [
    (r"conv_direct|conv_backward_data_direct", "direct convolution (engine)"),
    (r"nchwtonhwc|nhwctonchw|transpose|tensor_transform|convert_?layout", "layout transform (cuDNN)"),
    (r"dgrad|wgrad", "convolution backward (cuDNN)"),
    (r"fprop|conv|implicit_?gemm|xmma_.*(fprop|conv)|cudnn", "convolution (cuDNN)"),
    (r"gemm|cublas|sm\d+_xmma|cutlass", "GEMM (cuBLAS)"),
    (r"group_?norm", "GroupNorm (+SiLU, scale-shift)"),
    (r"attention|softmax", "attention"),
    (r"upsample|avg_?pool|resample", "resampling"),
    (r"concat|channel_slice", "concatenation"),
    (r"bias|residual", "bias / residual"),
    (r"silu", "SiLU"),
    (r"timestep|embed", "embeddings"),
    (r"pad|crop", "pad / crop"),
]

LABELS = {"sm__throughput": "SM", "gpu__compute_memory_throughput": "memory", "dram__throughput": "DRAM",
          "sm__pipe_tensor_op_hmma_cycles_active": "TC-mma", "sm__pipe_tensor_op_gmma_cycles_active": "TC-wgmma",
          "sm__warps_active": "warps"}

TIME_UNITS = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0,
              "second": 1e3, "s": 1e3}


def kind_of(name):
    low = name.lower()
    for pat, kind in KINDS:
        if re.search(pat, low):
            return kind
    return "other"


def number(s):
    s = (s or "").strip().replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def read_ncu_csv(path):
    """Returns (header, units, rows) from ncu's raw CSV, skipping its log lines."""
    with open(path, newline="") as f:
        lines = [ln for ln in f if not ln.startswith("==")]
    start = next((i for i, ln in enumerate(lines) if ln.startswith('"ID"') or ln.startswith("ID,")), None)
    if start is None:
        raise SystemExit("%s: no ncu CSV header (a row starting with ID)" % path)
    table = list(csv.reader(lines[start:]))
    header = table[0]
    units, rows = {}, []
    for r in table[1:]:
        if len(r) != len(header):
            continue
        rec = dict(zip(header, r))
        if not (rec.get("ID") or "").strip().isdigit():  # the units row has no ID
            units = rec if not units else units
            continue
        rows.append(rec)
    return header, units, rows


def find_key(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


def short(name, width=70):
    name = re.sub(r"\s+", " ", name)
    return name if len(name) <= width else name[: width - 3] + "..."


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--bench", help="the JSON reddiff bench wrote in the same run (FLOPs, batch, forward time)")
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()

    header, units, rows = read_ncu_csv(a.csv)
    name_col = next((c for c in ("Kernel Name", "Function Name", "Demangled Name") if c in header), None)
    if name_col is None or "gpu__time_duration.sum" not in header:
        raise SystemExit("%s: needs the columns 'Kernel Name' and 'gpu__time_duration.sum'" % a.csv)
    if not rows:
        raise SystemExit("%s: no kernel was profiled (was the profiler range opened? --profile-forward)" % a.csv)
    scale = TIME_UNITS.get((units.get("gpu__time_duration.sum") or "nsecond").strip(), None)
    if scale is None:
        raise SystemExit("%s: unknown time unit %r" % (a.csv, units.get("gpu__time_duration.sum")))
    pct_cols = [c for c in header if c.endswith(".pct_of_peak_sustained_elapsed") or c.endswith(".pct_of_peak_sustained_active")]
    labels = {c: LABELS.get(c.split(".")[0], c.split(".")[0]) for c in pct_cols}

    kernels = []
    for r in rows:
        ms = (number(r["gpu__time_duration.sum"]) or 0.0) * scale
        kernels.append({"name": r[name_col], "kind": kind_of(r[name_col]), "ms": ms,
                        "grid": r.get("launch__grid_size", ""), "pct": {c: number(r.get(c)) for c in pct_cols}})
    total = sum(k["ms"] for k in kernels)

    headline = "%d kernels, %.3f ms of kernel time" % (len(kernels), total)
    if a.bench:
        b = json.load(open(a.bench))
        flops, res = find_key(b, "flops_per_image"), find_key(b, "results")
        row = res[0] if res else {}
        batch, fwd = row.get("batch"), (row.get("forward_ms") or {}).get("median")
        if fwd:
            headline += "; forward %.3f ms in the bench (median, one of them under ncu)" % fwd
        if flops and batch and total > 0:
            headline += "; %.1f TFLOP/s over the kernel time (%d x %.4f TFLOP)" % (flops * batch / (total * 1e-3) / 1e12, batch, flops / 1e12)
    print(headline)
    print()

    def weighted(ks, c):
        num = sum(k["ms"] * k["pct"][c] for k in ks if k["pct"][c] is not None)
        den = sum(k["ms"] for k in ks if k["pct"][c] is not None)
        return "%8.1f" % (num / den) if den > 0 else "%8s" % "-"

    print("Time-weighted means of each counter, in % of peak: " + ", ".join("%s = %s" % (labels[c], c) for c in pct_cols))
    print("%-32s %7s %9s %6s  %s" % ("kind", "kernels", "ms", "share", "  ".join("%8s" % labels[c][:8] for c in pct_cols)))
    kinds = sorted({k["kind"] for k in kernels}, key=lambda kd: -sum(k["ms"] for k in kernels if k["kind"] == kd))
    for kd in kinds:
        ks = [k for k in kernels if k["kind"] == kd]
        ms = sum(k["ms"] for k in ks)
        print("%-32s %7d %9.3f %5.1f%%  %s" % (kd, len(ks), ms, 100 * ms / total if total else 0,
                                             "  ".join(weighted(ks, c) for c in pct_cols)))
    print("%-32s %7d %9.3f %5.1f%%  %s" % ("all", len(kernels), total, 100.0, "  ".join(weighted(kernels, c) for c in pct_cols)))
    print()
    print("Longest %d kernels:" % min(a.top, len(kernels)))
    print("%9s %6s %12s  %s  %s" % ("ms", "share", "grid", "  ".join("%8s" % labels[c][:8] for c in pct_cols), "kernel"))
    for k in sorted(kernels, key=lambda k: -k["ms"])[: a.top]:
        vals = "  ".join("%8s" % ("-" if k["pct"][c] is None else "%.1f" % k["pct"][c]) for c in pct_cols)
        print("%9.3f %5.1f%% %12s  %s  %s" % (k["ms"], 100 * k["ms"] / total if total else 0, k["grid"][:12], vals, short(k["name"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
