"""Ray Tune overhead and the speed-up of parallel trials, on the same trial code as production.

1. plain, cold: ``training.epochs`` (the loop every Tune trial runs), one thread, in a new Python
   process, timed from its start: interpreter, ``import torch``, the loop. This is what the same
   trial costs as a plain torch script, so it is the like-for-like baseline of a Tune trial,
   which also starts a process and imports torch.
2. plain, warm: the same loop in this process, after a warm-up (no process, no import).
3. tune x1: the same trial through ``tune.Tuner`` on a running local Ray (1 CPU a trial), data
   through ``tune.with_parameters``, as the training job does.
4. tune 2 seq / tune 2 par: two trials one after the other (max_concurrent_trials=1) vs at once.

    .venv/bin/python bench/tune_overhead.py [--epochs 24] [--assets 96]

Figures: Tune overhead = tune x1 / plain cold - 1 (goal <= 10%), and against the warm loop too;
2-trial speed-up = seq / par (goal >= 1.7x).
No MLflow, no lakeFS: data comes from the generator in memory, so only Tune is measured.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# only what a trial needs at the top: the cold baseline process must not pay for the generator
from include.retrain.ml import training

HP = {"lr": 1e-3, "width": 16, "depth": 2, "dropout": 0.1, "batch_size": 64, "seed": 0}


def arrays(assets: int) -> dict:
    import pandas as pd

    from devstack import generate
    from include.retrain import config
    from include.retrain.ml import features

    ds = config.get("pump_fleet")
    assert ds.sensor is not None
    files = generate.sensor_partition(ds, "2026-10-01", assets=assets)
    df = pd.concat([pd.read_parquet(io.BytesIO(f.body)) for f in files], ignore_index=True)
    s = features.split(features.sensor_windows(df, ds.sensor))
    mean, std = features.channel_stats(s["train"].x)
    return {
        "train": (s["train"].x, s["train"].y),
        "val": (s["val"].x, s["val"].y),
        "labels": ds.labels,
        "mean": mean,
        "std": std,
    }


def trial(hp: dict, data: dict, epochs: int, report=None) -> None:
    import torch

    torch.set_num_threads(1)
    model, opt = training.new_model(hp, data["train"][0], len(data["labels"]), data["mean"], data["std"])
    for r in training.epochs(model, opt, data["train"], data["val"], data["labels"], hp, {}, 0, epochs):
        if report:
            report(r)


def plain_cold(data: dict, epochs: int) -> float:
    """The plain loop in a new process, timed from its start (interpreter, imports, loop)."""
    with tempfile.NamedTemporaryFile(suffix=".pkl") as f:
        pickle.dump(data, f)
        f.flush()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--plain-child", f.name, str(epochs)], check=True)
        return time.perf_counter() - t0


def tune_run(data: dict, epochs: int, seeds: list[int], concurrent: int) -> float:
    from ray import tune

    def trainable(config: dict, data: dict) -> None:
        trial(config, data, epochs, report=tune.report)

    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), {"cpu": 1}),
        param_space={**HP, "seed": tune.grid_search(seeds)},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrent),
        run_config=tune.RunConfig(storage_path=str(Path("/tmp") / f"bench-tune-{os.getpid()}"), verbose=0),
    )
    t0 = time.perf_counter()
    results = tuner.fit()
    elapsed = time.perf_counter() - t0
    assert results.num_errors == 0, results.errors
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--assets", type=int, default=96)
    parser.add_argument("--plain-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_child:
        with open(args.plain_child[0], "rb") as fh:
            trial(HP, pickle.load(fh), int(args.plain_child[1]))
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local Ray: no token file in ~/.ray
    import ray

    data = arrays(args.assets)
    print(f"{len(data['train'][1])} train windows, {args.epochs} epochs a trial")
    cold = min(plain_cold(data, args.epochs) for _ in range(2))
    trial(HP, data, 1)  # warm-up: torch import and first allocations, as the Tune warm-up below
    t0 = time.perf_counter()
    trial(HP, data, args.epochs)
    plain = time.perf_counter() - t0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    tune_run(data, 1, [0], 1)  # warm-up: workers, imports
    one = tune_run(data, args.epochs, [0], 1)
    seq = tune_run(data, args.epochs, [0, 1], 1)
    par = tune_run(data, args.epochs, [0, 1], 2)
    ray.shutdown()
    print(f"plain loop, cold  {cold:6.2f}s (new process: interpreter, import torch, loop)")
    print(f"plain loop, warm  {plain:6.2f}s (this process, after a warm-up)")
    print(f"tune, 1 trial     {one:6.2f}s")
    print(f"tune, 2 in series {seq:6.2f}s")
    print(f"tune, 2 parallel  {par:6.2f}s")
    print(
        f"Tune overhead = {one / cold - 1:+.1%} vs the cold loop [goal <= 10%]; {one / plain - 1:+.1%} vs the warm loop"
    )
    print(f"2-trial speed-up on 2 cores = {seq / par:.2f}x [goal >= 1.7x]")


if __name__ == "__main__":
    main()
