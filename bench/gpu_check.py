"""GPU check: one short Ray Tune search with fractional GPUs, on a machine with an NVIDIA GPU.

Runs the production trial loop (``training.epochs`` on the device ``training.pick_device`` picks,
with mixed precision) as 8 trials of ``--gpus-per-trial`` (default 0.25) on a local Ray that
declares the machine's GPUs, samples ``nvidia-smi`` while it runs, and prints: the device every
trial trained on, trials per GPU, the most trials on one GPU at once, and GPU utilisation.

    bench/gpu_check.sh [--gpus-per-trial 0.25] [--epochs 20]

Not part of `make test`: the development machines have no GPU.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tune_overhead: the same data and trial


def nvidia_smi() -> list[tuple[int, int, int]]:
    """(GPU index, utilisation %, memory used MiB) of every GPU."""
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=index,utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [tuple(int(v) for v in line.split(",")) for line in out.strip().splitlines()]  # type: ignore[misc]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus-per-trial", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    gpus = nvidia_smi()
    print(f"{len(gpus)} GPU(s): {gpus}")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local Ray
    import ray
    from ray import tune
    from tune_overhead import HP, arrays

    from include.retrain.ml import training

    data = arrays(96)

    def trial(config: dict) -> None:
        import torch

        device = training.pick_device(ray.get_gpu_ids())
        model, opt = training.new_model(config, data["train"][0], len(data["labels"]), data["mean"], data["std"])
        for report in training.epochs(
            model, opt, data["train"], data["val"], data["labels"], config, {}, 0, args.epochs, device, True
        ):
            tune.report({**report, "device": device, "gpu_ids": ",".join(map(str, ray.get_gpu_ids()))})
        torch.cuda.empty_cache()

    samples: list[list[tuple[int, int, int]]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(nvidia_smi())
            time.sleep(0.5)

    ray.init(num_gpus=len(gpus), include_dashboard=False, log_to_driver=False)
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    results = tune.Tuner(
        tune.with_resources(trial, {"cpu": 0.5, "gpu": args.gpus_per_trial}),
        param_space={**HP, "seed": tune.grid_search(list(range(args.trials)))},
        run_config=tune.RunConfig(storage_path=f"/tmp/gpu-check-{os.getpid()}", verbose=0),
    ).fit()
    elapsed = time.perf_counter() - t0
    done.set()
    ray.shutdown()
    finals = [results[i].metrics or {} for i in range(len(results))]
    per_gpu = collections.Counter(m.get("gpu_ids") for m in finals)
    devices = collections.Counter(m.get("device") for m in finals)
    print(f"{len(results)} trials in {elapsed:.1f}s, {results.num_errors} errors; devices: {dict(devices)}")
    print(
        f"trials per GPU (Ray's ids): {dict(per_gpu)}  [expected up to {int(1 / args.gpus_per_trial)} at once per GPU]"
    )
    for index in range(len(gpus)):
        util = [s[index][1] for s in samples if len(s) > index]
        mem = [s[index][2] for s in samples if len(s) > index]
        if util:
            mean = sum(util) / len(util)
            print(f"GPU {index}: utilisation mean {mean:.0f}% max {max(util)}%, memory max {max(mem)} MiB")
    return 0 if devices.get("cuda") == len(results) and not results.num_errors else 1


if __name__ == "__main__":
    sys.exit(main())
