#!/usr/bin/env python3
"""bench/ncu_summary.py against hand-computed figures.

    test_ncu_summary.py NCU_SUMMARY_PY WORKDIR

Writes an ncu-style raw CSV (ncu's own log lines first, a units row, times in microseconds with a
thousands separator), runs the summary with a bench JSON, and checks the totals, the per-kind shares,
the duration-weighted counter means and the TFLOP/s it prints; then that a CSV without the needed
columns is refused with one line and a non-zero exit.
"""
import json
import os
import re
import subprocess
import sys

script, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
csv_path, bench_path = os.path.join(work, "f.csv"), os.path.join(work, "f.bench.json")
header = ['ID', 'Process ID', 'Kernel Name', 'gpu__time_duration.sum', 'launch__grid_size',
          'sm__throughput.avg.pct_of_peak_sustained_elapsed', 'dram__throughput.avg.pct_of_peak_sustained_elapsed']
units = ['', '', '', 'usecond', '', '%', '%']
kernels = [  # name, us, SM %, DRAM %
    ('sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc', 1500.0, 80.0, 20.0),
    ('sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc', 500.0, 40.0, 60.0),
    ('void reddiff::group_norm_kernel<__half, __half>(const __half*, __half*)', 250.0, 10.0, 90.0),
    ('void cudnn::ops::nchwToNhwcKernel<float>(int)', 250.0, 5.0, 50.0),
]
with open(csv_path, "w") as f:
    f.write("==PROF== Connected to process 1 (/x/reddiff)\n")
    f.write(",".join('"%s"' % h for h in header) + "\n")
    f.write(",".join('"%s"' % u for u in units) + "\n")
    for i, (name, us, sm, dram) in enumerate(kernels):
        f.write('"%d","1","%s","%s","132","%s","%s"\n' % (i, name, "{:,.2f}".format(us), sm, dram))
    f.write("==PROF== Disconnected from process 1\n")
json.dump({"model": {"flops_per_image": 1.25e11}, "results": [{"batch": 4, "forward_ms": {"median": 3.0}}]},
          open(bench_path, "w"))

r = subprocess.run([sys.executable, script, "--bench", bench_path, csv_path], capture_output=True, text=True)
print(r.stdout, r.stderr)
assert r.returncode == 0, "summary failed"
lines = r.stdout.splitlines()
# 2.5 ms of kernels; 4 x 0.125 TFLOP in 2.5 ms = 200 TFLOP/s
assert lines[0].startswith("4 kernels, 2.500 ms of kernel time"), lines[0]
assert "forward 3.000 ms" in lines[0] and "200.0 TFLOP/s" in lines[0], lines[0]


def row(kind):
    for ln in lines:
        if ln.startswith(kind):
            return ln[len(kind):].split()
    raise AssertionError("no row for " + kind)


conv = row("convolution (cuDNN)")  # 2 launches, 2.0 ms, 80 %, SM (80*1.5+40*0.5)/2 = 70, DRAM 30
assert conv[:3] == ["2", "2.000", "80.0%"] and conv[3:5] == ["70.0", "30.0"], conv
gn = row("GroupNorm (+SiLU, scale-shift)")
assert gn[:5] == ["1", "0.250", "10.0%", "10.0", "90.0"], gn
lt = row("layout transform (cuDNN)")
assert lt[:3] == ["1", "0.250", "10.0%"], lt
tot = row("all")  # SM (120 + 20 + 2.5 + 1.25) / 2.5 = 57.5; DRAM (30 + 30 + 22.5 + 12.5) / 2.5 = 38
assert tot[:5] == ["4", "2.500", "100.0%", "57.5", "38.0"], tot
longest = [ln for ln in lines if re.match(r"\s+1\.500\s", ln)]
assert longest and "fprop" in longest[0], lines

with open(os.path.join(work, "bad.csv"), "w") as f:
    f.write('"ID","Kernel Name"\n"0","k"\n')
r = subprocess.run([sys.executable, script, os.path.join(work, "bad.csv")], capture_output=True, text=True)
assert r.returncode != 0 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (r.returncode, r.stdout, r.stderr)
print("ncu_summary: all checks hold")
