"""Ray Tune overhead and the speed-up of parallel trials, on the same trial code as production.

1. plain, cold: ``training.epochs`` (the loop every Tune trial runs), one thread, in a new Python
   process, timed from its start: interpreter, ``import torch``, the loop. This is what the same
   trial costs as a plain torch script, so it is the like-for-like baseline of a Tune trial,
   which also starts a process and imports torch.
2. plain, warm: the same loop in this process, after a warm-up (no process, no import).
3. tune x1: the same trial through ``tune.Tuner`` on a running local Ray (1 CPU a trial), data
   through ``tune.with_parameters`` (actor reuse on). The training job's trials read their
   samples from the derived shards in lakeFS instead, once per worker process (``train.trial_samples``);
   this bench has no lakeFS, so a trial's figure here leaves that read out (the job logs it).
4. tune 2 seq / tune 2 par: two trials one after the other (max_concurrent_trials=1) vs at once,
   with actor reuse (the job's setting) and without; and the same for the training loops alone
   (timed inside each trial, after its process started and imported torch): the wall-clock
   figure holds one process start in series and two at once, which no parallelism shortens.
5. plain 2 in series / plain 2 parallel: one new process running the loop twice vs two new
   processes at once running it once each: the speed-up the machine itself allows two loops,
   the ceiling of Tune's.
6. a search of 4 trials (the shipped datasets' ``num_samples``), 2 at once, against its plain
   baseline: 2 new processes at once, each running 2 trials one after the other.

Each figure is the fastest of ``--repeat`` runs (the machine's other work only adds time).

    .venv/bin/python bench/tune_overhead.py [--epochs 24] [--assets 96] [--repeat 3]

Figures: Tune overhead = tune x1 / plain cold - 1 and search of 4 / its plain baseline - 1
(goal <= 5%), against the warm loop too; 2-trial speed-up = seq / par (goal >= 1.9x), beside
the plain loops' own.
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


def plain_cold(data: dict, epochs: int, processes: int = 1, trials: int = 1) -> float:
    """``processes`` new processes at once, each running the plain loop ``trials`` times, timed from
    their start (interpreter, imports, loops) to the end of the last."""
    with tempfile.NamedTemporaryFile(suffix=".pkl") as f:
        pickle.dump(data, f)
        f.flush()
        cmd = [sys.executable, __file__, "--plain-child", f.name, str(epochs), str(trials)]
        t0 = time.perf_counter()
        children = [subprocess.Popen(cmd) for _ in range(processes)]
        assert all(c.wait() == 0 for c in children)
        return time.perf_counter() - t0


# (trials, concurrent, reuse) -> the time the runs' training loops took, each trial's worker process
# already started and torch imported: with one trial at a time the sum of the loops' own times
# (the gaps between trials, a process start without actor reuse, left out), with several at once
# the span from the first loop's start to the last loop's end
LOOP_SPANS: dict[tuple[int, int, bool], list[float]] = {}


def tune_run(data: dict, epochs: int, seeds: list[int], concurrent: int, reuse: bool = True) -> float:
    from ray import tune

    def trainable(config: dict, data: dict) -> None:
        import torch  # noqa: F401  (the process's import, before the loop's clock starts)

        start = time.time()
        trial(config, data, epochs, report=lambda r: tune.report({**r, "loop_start": start, "loop_end": time.time()}))

    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), {"cpu": 1}),
        param_space={**HP, "seed": tune.grid_search(seeds)},
        # reuse_actors on, as in the training job (jobs/train.search); off for the comparison
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrent, reuse_actors=reuse),
        run_config=tune.RunConfig(storage_path=str(Path("/tmp") / f"bench-tune-{os.getpid()}"), verbose=0),
    )
    t0 = time.perf_counter()
    results = tuner.fit()
    elapsed = time.perf_counter() - t0
    assert results.num_errors == 0, results.errors
    finals = [results[i].metrics or {} for i in range(len(results))]
    ends = [(m["loop_start"], m["loop_end"]) for m in finals]
    at_once = max(e for _, e in ends) - min(s for s, _ in ends)
    span = sum(e - s for s, e in ends) if concurrent == 1 else at_once
    LOOP_SPANS.setdefault((len(seeds), concurrent, reuse), []).append(span)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--assets", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure; the fastest counts")
    parser.add_argument("--plain-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_child:
        with open(args.plain_child[0], "rb") as fh:
            data = pickle.load(fh)
        for seed in range(int(args.plain_child[2])):
            trial({**HP, "seed": seed}, data, int(args.plain_child[1]))
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local Ray: no token file in ~/.ray
    import ray

    def best(fn, *a, **kw) -> float:
        return min(fn(*a, **kw) for _ in range(args.repeat))

    data = arrays(args.assets)
    e = args.epochs
    print(f"{len(data['train'][1])} train windows, {e} epochs a trial, fastest of {args.repeat} runs")
    cold = best(plain_cold, data, e)
    cold4 = best(plain_cold, data, e, processes=2, trials=2)
    plain_seq = best(plain_cold, data, e, processes=1, trials=2)
    plain_par = best(plain_cold, data, e, processes=2, trials=1)
    trial(HP, data, 1)  # warm-up: torch import and first allocations, as the Tune warm-up below

    def warm_loop() -> float:
        t0 = time.perf_counter()
        trial(HP, data, e)
        return time.perf_counter() - t0

    plain = best(warm_loop)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    tune_run(data, 1, [0], 1)  # warm-up: workers, imports
    one = best(tune_run, data, e, [0], 1)
    seq = best(tune_run, data, e, [0, 1], 1)
    par = best(tune_run, data, e, [0, 1], 2)
    seq_fresh = best(tune_run, data, e, [0, 1], 1, reuse=False)
    par_fresh = best(tune_run, data, e, [0, 1], 2, reuse=False)
    four = best(tune_run, data, e, [0, 1, 2, 3], 2)
    four_fresh = best(tune_run, data, e, [0, 1, 2, 3], 2, reuse=False)
    ray.shutdown()
    print(f"plain loop, cold       {cold:6.2f}s (new process: interpreter, import torch, loop)")
    print(f"plain loop, warm       {plain:6.2f}s (this process, after a warm-up)")
    print(f"plain, 4 trials        {cold4:6.2f}s (2 new processes at once, 2 loops each)")
    print(f"plain, 2 in series     {plain_seq:6.2f}s (1 new process, 2 loops)")
    print(f"plain, 2 parallel      {plain_par:6.2f}s (2 new processes at once, 1 loop each)")
    print(f"tune, 1 trial          {one:6.2f}s")
    print(f"tune, 2 in series      {seq:6.2f}s (without actor reuse {seq_fresh:6.2f}s)")
    print(f"tune, 2 parallel       {par:6.2f}s (without actor reuse {par_fresh:6.2f}s)")
    print(f"tune, 4 trials, 2 at once {four:6.2f}s (without actor reuse {four_fresh:6.2f}s)")
    vs_cold, vs_warm = one / cold - 1, one / plain - 1
    print(f"Tune overhead, 1 trial = {vs_cold:+.1%} vs the cold loop [goal <= 5%]; {vs_warm:+.1%} vs the warm loop")
    print(
        f"Tune overhead, search of 4 = {four / cold4 - 1:+.1%} vs its plain baseline "
        f"({four_fresh / cold4 - 1:+.1%} without actor reuse) [goal <= 5%]"
    )
    print(
        f"2-trial speed-up on 2 cores = {seq / par:.2f}x "
        f"({seq_fresh / par_fresh:.2f}x without actor reuse) [goal >= 1.9x]; "
        f"the plain loops' own: {plain_seq / plain_par:.2f}x (what these 2 cores allow two loops)"
    )
    loops = {k: min(v) for k, v in LOOP_SPANS.items()}
    print(
        f"2-trial speed-up of the training loops alone (each trial's process started, torch imported: the sum "
        f"of the loops' times in series vs their span at once) = "
        f"{loops[(2, 1, True)] / loops[(2, 2, True)]:.2f}x ({loops[(2, 1, True)]:.2f}s in series vs "
        f"{loops[(2, 2, True)]:.2f}s at once; without actor reuse "
        f"{loops[(2, 1, False)] / loops[(2, 2, False)]:.2f}x): the wall-clock figure above also holds the "
        f"process starts, one in series and two at once, which no parallelism shortens"
    )


if __name__ == "__main__":
    main()
