"""The training's and the evaluation's reads against the history on main.

Lands ``--nights`` generated nights of a copy of pump_fleet (``--assets`` machines, one Parquet
file each a night) through the pipeline's ingest, validate and publish steps, records the split
plan as the training does, then reads the commit after night 1, 2, 4, ... in fresh processes,
three ways:

* ``whole``: ``dataset.load_splits`` of every night (what both jobs did before);
* ``holdout``: ``dataset.load_holdout``, the evaluation's read (each file's rows of other splits
  let go as it is read);
* ``training``: ``dataset.load_splits`` with ``--budget-mb``, as the training job reads (the newest
  nights that fill the budget with every class in every split);
* ``evaluation``: ``dataset.load_holdout`` with ``--holdout-budget-mb``, as the evaluation job
  reads (the holdout of the newest nights that fill it with every class).

Prints each read's peak RSS and seconds, the holdout's size and the nights the training read;
baseline: the whole read at the same commit, in the same run. Goals (#15 parts 3-4): the
holdout read's memory follows the holdout (about 15 % of the data), the training's and the
evaluation's reads their budgets, not the commit.

    make up; PYTHONPATH=. .venv/bin/python bench/history_read.py [--nights 8] [--rows 20480]
        [--budget-mb 64] [--holdout-budget-mb 16]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack import generate, nightly
from devstack.services import stack_from_env
from include.retrain import config
from include.retrain.lake import lakefs_io
from include.retrain.ml import dataset

READS = ("whole", "holdout", "training", "evaluation")


def read(how: str, name: str, commit: str, budget_mb: str, holdout_budget_mb: str) -> dict:
    stack = stack_from_env(out=lambda _: None)
    clt = lakefs_io.client(stack.lakefs_endpoint())
    ds = config.get(name)
    t0 = time.monotonic()
    if how == "record":
        dataset.load_splits(ds, commit, clt, record=True)
        return {}
    if how == "whole":
        split = dataset.load_splits(ds, commit, clt)
    elif how == "holdout":
        split = dataset.load_holdout(ds, commit, clt)
    elif how == "evaluation":
        split = dataset.load_holdout(ds, commit, clt, budget_mb=float(holdout_budget_mb))
    else:
        split = dataset.load_splits(ds, commit, clt, budget_mb=float(budget_mb))
    return {
        "seconds": time.monotonic() - t0,
        "holdout": len(split["holdout"]),
        "nights": "all" if split.nights is None else len(split.nights),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(env: dict, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1] or "{}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nights", type=int, default=8)
    parser.add_argument("--assets", type=int, default=24)
    parser.add_argument("--rows", type=int, default=20480, help="rows per segment of a machine-night")
    parser.add_argument("--budget-mb", type=float, default=64.0, help="the training read's tune.train_budget_mb")
    parser.add_argument(
        "--holdout-budget-mb", type=float, default=16.0, help="the evaluation read's gate.holdout_budget_mb"
    )
    parser.add_argument("--read", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read(*args.read)))
        return
    stack = stack_from_env(out=lambda _: None)
    if not stack.is_up():
        raise SystemExit("the local stack is not up: run `make up` first")
    ds = generate.dataset_copy(config.get("pump_fleet"), f"history_bench_{time.strftime('%m%d%H%M')}")
    measured = {2**k for k in range(args.nights.bit_length()) if 2**k <= args.nights}
    budgets = (str(args.budget_mb), str(args.holdout_budget_mb))
    rows: list[tuple[int, int, dict, dict, dict, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RETRAIN_DATASETS_FILE": str(nightly.write_datasets_file(Path(tmp) / "d.yaml", ds))}
        for night in range(1, args.nights + 1):
            date = (dt.date(2025, 1, 1) + dt.timedelta(days=night - 1)).isoformat()
            files = generate.sensor_partition(ds, date, assets=args.assets, rows_per_segment=args.rows)
            landed = sum(pq.ParquetFile(io.BytesIO(f.body)).metadata.num_rows for f in files)
            bodies = {f.key.split("/", 1)[1]: f.body for f in files}
            commit = nightly.publish_files(stack, ds, date, f"bench__{night}", bodies)
            if night == 1:
                _child(env, "--read", "record", ds.name, commit, *budgets)
            if night in measured:
                got = [_child(env, "--read", how, ds.name, commit, *budgets) for how in READS]
                whole, holdout, training, evaluation = got
                assert whole["holdout"] == holdout["holdout"], (whole, holdout)
                rows.append((night, landed * night, whole, holdout, training, evaluation))
                print(f"night {night}: " + ", ".join(f"{h} {r}" for h, r in zip(READS, got, strict=True)), flush=True)
    print(
        "\n| nights on main | rows | whole read | holdout read (windows) | vs whole "
        f"| training read, {args.budget_mb:g} MB (nights read) | vs whole "
        f"| evaluation read, {args.holdout_budget_mb:g} MB (windows, nights read) | vs whole |"
    )
    print("|---" * 9 + "|")
    for night, total, whole, holdout, training, evaluation in rows:
        print(
            f"| {night} | {total:,} | {whole['peak_mb']:,.0f} MB, {whole['seconds']:.1f} s "
            f"| {holdout['peak_mb']:,.0f} MB, {holdout['seconds']:.1f} s ({holdout['holdout']:,}) "
            f"| {holdout['peak_mb'] / whole['peak_mb']:.2f}x "
            f"| {training['peak_mb']:,.0f} MB, {training['seconds']:.1f} s ({training['nights']}) "
            f"| {training['peak_mb'] / whole['peak_mb']:.2f}x "
            f"| {evaluation['peak_mb']:,.0f} MB, {evaluation['seconds']:.1f} s "
            f"({evaluation['holdout']:,}, {evaluation['nights']}) "
            f"| {evaluation['peak_mb'] / whole['peak_mb']:.2f}x |"
        )
    first, last = rows[0], rows[-1]
    growth = ", ".join(
        f"{how} {b['peak_mb'] / a['peak_mb']:.2f}x" for how, a, b in zip(READS, first[2:], last[2:], strict=True)
    )
    print(f"\npeak memory from night {first[0]} to {last[0]}: {growth}")


if __name__ == "__main__":
    main()
