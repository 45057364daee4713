"""The evaluation's holdout read against the history on main: file by file vs the whole commit.

Lands ``--nights`` generated nights of a copy of pump_fleet (``--assets`` machines, one Parquet
file each a night) through the pipeline's ingest, validate and publish steps, records the split
plan as the training does, then reads the holdout at the commit after night 1, 2, 4, ... in fresh
processes, two ways:

* ``whole``: ``dataset.load_splits`` (what the evaluation did before: every split in memory);
* ``streamed``: ``dataset.load_holdout`` (what it does now: each file's rows of other splits let go).

Prints each read's peak RSS, seconds and holdout size; baseline: the whole read at the same commit,
in the same run. Goal (#15 part 4): the streamed read's memory follows the holdout (about 15 % of
the data), not the commit.

    make up; PYTHONPATH=. .venv/bin/python bench/holdout_read.py [--nights 8] [--assets 24] [--rows 20480]
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


def read(how: str, name: str, commit: str) -> dict:
    stack = stack_from_env(out=lambda _: None)
    clt = lakefs_io.client(stack.lakefs_endpoint())
    ds = config.get(name)
    t0 = time.monotonic()
    if how == "record":
        dataset.load_splits(ds, commit, clt, record=True)
        return {}
    split = dataset.load_splits(ds, commit, clt) if how == "whole" else dataset.load_holdout(ds, commit, clt)
    return {
        "seconds": time.monotonic() - t0,
        "holdout": len(split["holdout"]),
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
    parser.add_argument("--read", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read(*args.read)))
        return
    stack = stack_from_env(out=lambda _: None)
    if not stack.is_up():
        raise SystemExit("the local stack is not up: run `make up` first")
    ds = generate.dataset_copy(config.get("pump_fleet"), f"holdout_bench_{time.strftime('%m%d%H%M')}")
    measured = {2**k for k in range(args.nights.bit_length()) if 2**k <= args.nights}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RETRAIN_DATASETS_FILE": str(nightly.write_datasets_file(Path(tmp) / "d.yaml", ds))}
        for night in range(1, args.nights + 1):
            date = (dt.date(2025, 1, 1) + dt.timedelta(days=night - 1)).isoformat()
            files = generate.sensor_partition(ds, date, assets=args.assets, rows_per_segment=args.rows)
            landed = sum(pq.ParquetFile(io.BytesIO(f.body)).metadata.num_rows for f in files)
            commit = nightly.publish_files(
                stack, ds, date, f"bench__{night}", {f.key.split("/", 1)[1]: f.body for f in files}
            )
            if night == 1:
                _child(env, "--read", "record", ds.name, commit)
            if night in measured:
                whole = _child(env, "--read", "whole", ds.name, commit)
                streamed = _child(env, "--read", "streamed", ds.name, commit)
                assert whole["holdout"] == streamed["holdout"], (whole, streamed)
                rows.append((night, landed * night, whole, streamed))
                print(f"night {night}: whole {whole}, streamed {streamed}", flush=True)
    print(
        "\n| nights on main | rows | holdout windows | whole read: peak, s | streamed read: peak, s | streamed/whole |"
    )
    print("|---|---|---|---|---|---|")
    for night, total, whole, streamed in rows:
        print(
            f"| {night} | {total:,} | {whole['holdout']:,} | {whole['peak_mb']:,.0f} MB, {whole['seconds']:.1f} s "
            f"| {streamed['peak_mb']:,.0f} MB, {streamed['seconds']:.1f} s "
            f"| {streamed['peak_mb'] / whole['peak_mb']:.2f}x |"
        )
    first, last = rows[0], rows[-1]
    print(
        f"\nfrom night {first[0]} to {last[0]}: whole read peak {last[2]['peak_mb'] / first[2]['peak_mb']:.2f}x, "
        f"streamed read peak {last[3]['peak_mb'] / first[3]['peak_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
