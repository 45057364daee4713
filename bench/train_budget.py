"""Training cost against the data on main, with ``tune.train_budget_mb``: one epoch at the budget.

For training splits of 0.5x, 1x, 2x and 4x the budget (pump_fleet windows: 5 channels x 128 rows
of float32, 4 classes), two fresh processes, as the training job splits the work:

* the job's driver: holds a training split of that size (the job reads the newest nights until
  they fill the budget, so it holds this much only when one night is that large:
  ``history_read.py`` measures the job's own read against the history), keeps what
  ``training.within_budget`` selects and hands it on (here: a ``.npz`` file; in the job: the
  nights' derived shards in lakeFS and the kept indices, from which each trial's worker reads it);
* a trial: loads only what was handed on and trains one epoch of the production trial
  (``training.epochs``, one thread, the shipped search space's first configuration).

Each reports its peak RSS; the trial also its epoch time. Baseline: the same figures at 1x the
budget, in the same run. Goal (#15): past the budget, a trial's epoch time and peak memory stay
flat (<= 1.2x the 1x figures at 4x). The driver's peak is printed beside them: it grows with
the split it holds, because a night is read whole (not yet in chunks, #15 part 3).

    .venv/bin/python bench/train_budget.py [--budget-mb 64] [--factors 0.5 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack import processes
from include.retrain.ml import features, training

CHANNELS, WINDOW, LABELS = 5, 128, 4
HP = {"lr": 1e-3, "width": 16, "depth": 2, "dropout": 0.1, "batch_size": 64, "seed": 0}


def driver(n: int, budget_mb: float, out: str) -> dict:
    """The whole training split in memory (labels 70/10/10/10), then what the budget keeps."""
    rng = np.random.default_rng(0)
    y = rng.choice(LABELS, size=n, p=[0.7, 0.1, 0.1, 0.1]).astype(np.int64)
    x = rng.standard_normal((n, CHANNELS, WINDOW), dtype=np.float32)
    x += y[:, None, None].astype(np.float32)  # a class is a shifted level: something to learn
    keep = training.within_budget(y, int(x[0].nbytes), budget_mb, seed=0)
    np.savez(out, x=x[keep], y=y[keep])
    return {"kept": len(keep), "driver_peak_mb": processes.peak_rss_mb()}


def trial(path: str) -> dict:
    import torch

    torch.set_num_threads(1)
    data = np.load(path)
    x, y = data["x"], data["y"]
    mean, std = features.channel_stats(x)
    model, opt = training.new_model(HP, x, LABELS, mean, std)
    val = (x[:256], y[:256])
    labels = [str(i) for i in range(LABELS)]
    t0 = time.perf_counter()
    for _ in training.epochs(model, opt, (x, y), val, labels, HP, {}, 0, 1):
        pass
    return {"epoch_s": time.perf_counter() - t0, "trial_peak_mb": processes.peak_rss_mb()}


def _child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-mb", type=float, default=64.0, help="tune.train_budget_mb (the job's default: 512)")
    parser.add_argument("--factors", type=float, nargs="+", default=[0.5, 1, 2, 4], help="split sizes / budget")
    parser.add_argument("--driver", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        print(json.dumps(driver(int(args.driver[0]), float(args.driver[1]), args.driver[2])))
        return
    if args.trial:
        print(json.dumps(trial(args.trial)))
        return
    window_bytes = CHANNELS * WINDOW * 4
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for f in args.factors:
            n = int(f * args.budget_mb * 2**20 / window_bytes)
            path = str(Path(tmp) / f"kept-{f}.npz")
            rows[f] = {"windows": n, **_child("--driver", str(n), str(args.budget_mb), path), **_child("--trial", path)}
    room = int(args.budget_mb * 2**20 / window_bytes)
    print(f"budget {args.budget_mb:g} MB = {room} windows of {window_bytes} bytes")
    print("split/budget  windows  kept    trial epoch  trial peak  driver peak")
    for f, r in rows.items():
        print(
            f"{f:>11g}x {r['windows']:>8} {r['kept']:>7} {r['epoch_s']:>10.2f}s {r['trial_peak_mb']:>8.0f} MB "
            f"{r['driver_peak_mb']:>8.0f} MB"
        )
    if 1 in rows:
        top, base = rows[max(rows)], rows[1]
        print(
            f"at {max(rows):g}x the budget vs 1x: trial epoch {top['epoch_s'] / base['epoch_s']:.2f}x, "
            f"trial peak {top['trial_peak_mb'] / base['trial_peak_mb']:.2f}x [goal <= 1.2x]; "
            f"driver peak {top['driver_peak_mb'] / base['driver_peak_mb']:.2f}x "
            "(it holds the whole split: a night that large, read whole)"
        )


if __name__ == "__main__":
    main()
