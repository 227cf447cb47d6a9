#!/usr/bin/env python3
"""Plots the training loss (and the EMA validation loss) of one or more train.py runs as one curve.

    python3 training/plot_runs.py OUT.png RUN_DIR [RUN_DIR ...]

Runs are chained in the order given (a run started with --init continues the one before it): each run's
steps and seconds are offset by the totals of the runs before it, and a vertical line marks each start.
Reads RUN_DIR/loss.csv (step, loss, lr, elapsed_s), RUN_DIR/val.csv (step, size, val_loss) and the step count
of RUN_DIR/train_info.json when present.
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    out, runs = argv[1], argv[2:]
    fig, ax = plt.subplots(figsize=(7, 4))
    step0 = 0
    val = {}
    starts = []
    xs, ys = [], []
    for run in runs:
        loss = read_csv(os.path.join(run, "loss.csv"))
        if not loss:
            raise SystemExit("no loss.csv in %s" % run)
        starts.append(step0)
        xs += [step0 + int(r["step"]) for r in loss]
        ys += [float(r["loss"]) for r in loss]
        for r in read_csv(os.path.join(run, "val.csv")):
            val.setdefault(int(r["size"]), []).append((step0 + int(r["step"]), float(r["val_loss"])))
        info = os.path.join(run, "train_info.json")
        step0 += json.load(open(info))["step"] if os.path.exists(info) else int(loss[-1]["step"])
    ax.plot(xs, ys, lw=1, label="training loss (mean per log interval)")
    for size, pts in sorted(val.items()):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label="validation, EMA, %d x %d" % (size, size))
    for s in starts[1:]:
        ax.axvline(s, color="grey", ls=":", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("eps MSE")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("bundled model: %d steps in %d run(s)" % (step0, len(runs)), fontsize=10)
    fig.tight_layout()
    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv)
