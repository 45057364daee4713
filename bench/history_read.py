"""The training's and the evaluation's reads against the history on main.

Lands ``--nights`` generated nights of a copy of pump_fleet (``--assets`` machines, one Parquet
file each a night) through the pipeline's ingest, validate and publish steps. After each night,
the training's read runs as the training job runs it (``dataset.load_splits`` with
``--budget-mb`` and ``record=True``: the newest nights that fill the budget with every class in
every split, each from its derived shard when it has one; the new night is cut from its files and
its shard written; the first night records the split plan). At night 1, 2, 4, ... the commit is
also read in fresh processes:

* ``files``: ``dataset.load_splits(shards=False)``, every night cut from its files (what every
  retrain did before budgets and shards: the baseline);
* ``shards``: ``dataset.load_splits``, every night read from its shard;
* ``holdout``: ``dataset.load_holdout(shards=False)``, every night's holdout read file by file
  (each file's rows of other splits let go as it is read);
* ``evaluation``: ``dataset.load_holdout`` with ``--holdout-budget-mb`` and ``record=True``, as
  the evaluation job reads (the holdout of the newest nights that fill it with every class, from
  their shards; a night without one is cut and its shard written).

Prints each read's peak RSS and seconds, the holdout's size and the nights read; baseline: the
``files`` read at the same commit, in the same run. Goals (#15 parts 2-4): a night is cut once
(the shard read costs less than cutting it again), the holdout read's memory follows the holdout
(about 15 % of the data), the training's and the evaluation's reads their budgets, not the commit.

    make up; PYTHONPATH=. .venv/bin/python bench/history_read.py [--nights 8] [--rows 20480]
        [--budget-mb 64] [--holdout-budget-mb 16]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack import generate, nightly, processes
from devstack.services import stack_from_env
from include.retrain import config
from include.retrain.lake import lakefs_io
from include.retrain.ml import dataset

READS = ("files", "shards", "holdout", "training", "evaluation")


def read(how: str, name: str, commit: str, budget_mb: str, holdout_budget_mb: str) -> dict:
    stack = stack_from_env(out=lambda _: None)
    clt = lakefs_io.client(stack.lakefs_endpoint())
    ds = config.get(name)
    t0 = time.monotonic()
    if how == "training":  # the training job's read: writes the shards of the nights it cuts
        split = dataset.load_splits(ds, commit, clt, record=True, budget_mb=float(budget_mb))
    elif how == "files":
        split = dataset.load_splits(ds, commit, clt, shards=False)
    elif how == "shards":
        split = dataset.load_splits(ds, commit, clt)
    elif how == "holdout":
        split = dataset.load_holdout(ds, commit, clt, shards=False)
    else:
        split = dataset.load_holdout(ds, commit, clt, budget_mb=float(holdout_budget_mb), record=True)
    return {
        "seconds": time.monotonic() - t0,
        "holdout": len(split["holdout"]),
        "samples": sum(len(s) for _, s in split.items()),
        "nights": "all" if split.nights is None else len(split.nights),
        "from_shards": len(split.from_shards),
        "peak_mb": processes.peak_rss_mb(),
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
    rows: list[tuple[int, int, dict, dict, dict, dict, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RETRAIN_DATASETS_FILE": str(nightly.write_datasets_file(Path(tmp) / "d.yaml", ds))}
        for night in range(1, args.nights + 1):
            date = (dt.date(2025, 1, 1) + dt.timedelta(days=night - 1)).isoformat()
            files = generate.sensor_partition(ds, date, assets=args.assets, rows_per_segment=args.rows)
            landed = sum(pq.ParquetFile(io.BytesIO(f.body)).metadata.num_rows for f in files)
            bodies = {f.key.split("/", 1)[1]: f.body for f in files}
            commit = nightly.publish_files(stack, ds, date, f"bench__{night}", bodies)
            training = _child(env, "--read", "training", ds.name, commit, *budgets)
            if night in measured:
                got = [_child(env, "--read", how, ds.name, commit, *budgets) for how in READS if how != "training"]
                files_, shards, holdout, evaluation = got
                assert shards["from_shards"] == night, shards  # every night has its shard by now
                assert files_["samples"] == shards["samples"] and files_["holdout"] == shards["holdout"]
                assert files_["holdout"] == holdout["holdout"], (files_, holdout)
                rows.append((night, landed * night, files_, shards, holdout, training, evaluation))
                print(
                    f"night {night}: " + ", ".join(f"{h} {r}" for h, r in zip(READS, rows[-1][2:], strict=True)),
                    flush=True,
                )
    print(
        "\n| nights on main | rows | every night cut from its files | every night from its shard | vs files "
        "| holdout file by file (windows) | vs files "
        f"| training read, {args.budget_mb:g} MB (nights read, from shards) | vs files "
        f"| evaluation read, {args.holdout_budget_mb:g} MB (windows, nights read) | vs files |"
    )
    print("|---" * 11 + "|")

    def cell(r: dict) -> str:
        return f"{r['peak_mb']:,.0f} MB, {r['seconds']:.1f} s"

    for night, total, files_, shards, holdout, training, evaluation in rows:
        base = files_["seconds"]
        print(
            f"| {night} | {total:,} | {cell(files_)} | {cell(shards)} | {shards['seconds'] / base:.2f}x "
            f"| {cell(holdout)} ({holdout['holdout']:,}) | {holdout['seconds'] / base:.2f}x "
            f"| {cell(training)} ({training['nights']}, {training['from_shards']}) "
            f"| {training['seconds'] / base:.2f}x "
            f"| {cell(evaluation)} ({evaluation['holdout']:,}, {evaluation['nights']}) "
            f"| {evaluation['seconds'] / base:.2f}x |"
        )
    first, last = rows[0], rows[-1]
    for what in ("peak_mb", "seconds"):
        growth = ", ".join(
            f"{how} {b[what] / a[what]:.2f}x" for how, a, b in zip(READS, first[2:], last[2:], strict=True)
        )
        print(f"\n{'peak memory' if what == 'peak_mb' else 'seconds'} from night {first[0]} to {last[0]}: {growth}")


if __name__ == "__main__":
    main()
