"""Scale check: ingest and validate batches of 3 sizes; throughput and peak memory of each.

For each modality, batches of 3 sizes land in the S3 landing zone (generated first, one file at
a time, not timed). Each batch is then ingested into a lakeFS branch and validated there, in a
fresh process, as the DAG's ``ingest`` and ``validate`` tasks do it. The process reports the
time of both steps and its peak RSS.

* Cost should grow linearly with the batch: the time per file stays flat across sizes.
* Memory should stay bounded, because validation streams the files. The process's peak RSS
  should barely move across sizes. The image baseline, in the same run, is the largest batch
  validated the old way, with every file held in memory at once.
* The stack's own processes serve every byte of it: lakeFS (with its PostgreSQL, when the stack
  runs one) and the S3 server. Their memory, summed over each service's process tree, is sampled
  during every batch; its peak is printed beside the batch's process's.
* Each sensor batch is validated a second time on Ray, as a run larger than
  ``validation.spread_above_mb`` is: a Ray job spreads the files over the cluster's nodes (the
  local stack: a head and two worker nodes on loopback) and the task judges their statistics.
  The memory of Ray's processes (each node's process tree: its workers and each job's driver)
  is sampled as well for these rows.
  Services are sampled as PSS: Ray's dashboard runs a dozen processes forked from one server,
  whose shared pages a sum of RSS would count a dozen times.
* Sensor validation checks each file's statistics with GX and only a failing file row by row.
  Its baseline, in the same run, is the row-by-row suite (what every file cost before) on the
  first files of each batch: the speed-up is the ratio of the two rates.

Needs the local stack (``make up``)::

    PYTHONPATH=. .venv/bin/python bench/scale.py                  # 2k/6k/20k images; 1M/10M/100M rows
    PYTHONPATH=. .venv/bin/python bench/scale.py --fraction 0.1   # a tenth of every size
    PYTHONPATH=. .venv/bin/python bench/scale.py --only rows --rows 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

IMAGES = (2_000, 6_000, 20_000)
SENSOR_ROWS = (1_000_000, 10_000_000, 100_000_000)
# One file per asset and day, 4 label segments; 100,000 rows is 5.6 MB of Parquet in one row
# group (a 24-machine fleet at 1 kHz in 10 s snapshots every 5 minutes lands about this per day).
ROWS_PER_FILE = 100_000
ROW_SUITE_FILES = 3  # files of each sensor batch also checked row by row: the baseline rate


SERVICES = ("lakefs", "s3", "postgres")  # the stack's processes every ingested byte goes through
RAY_NODES = ("ray", "ray-worker-1", "ray-worker-2")  # sampled too when the files are examined on Ray


def _dataset(base: str, name: str) -> Any:
    from devstack.generate import dataset_copy
    from include.retrain import config

    return dataset_copy(config.get(base), name)  # its own repository and landing prefix


def land(base: str, name: str, size: int) -> int:
    """Generate one batch into the landing zone, a file at a time; returns its number of files."""
    from devstack import generate
    from devstack.services import stack_from_env

    ds, stack = _dataset(base, name), stack_from_env()
    s3 = stack.s3_client()
    if ds.modality == "image":
        files = generate.image_partition(ds, "2026-01-01", per_class=size // len(ds.labels))
        generate.write(files, ds.landing.prefix, s3=s3, bucket=ds.landing.bucket)
        return len(files)
    assets = generate.asset_ids(ds.name, max(1, size // ROWS_PER_FILE))
    for asset in assets:  # one at a time: 10^8 rows are 5.6 GB
        frame = generate.sensor_frame(ds.sensor, ds.name, "2026-01-01", asset, ROWS_PER_FILE // 4)
        key = f"{ds.landing.prefix}/dt=2026-01-01/{asset}.parquet"
        s3.put_object(Bucket=ds.landing.bucket, Key=key, Body=generate.to_parquet(frame))
    return len(assets)


def row_suite_rate(ds: Any, clt: Any, branch: str, paths: list[str]) -> float:
    """Rows per second of the row-by-row GX suite (the old way of every file) on ``paths``."""
    from include.retrain.lake import lakefs_io
    from include.retrain.lake.formats import read_sensor_file
    from include.retrain.quality import sensor
    from include.retrain.quality.report import GXRun

    run = GXRun("row_suite", lambda: sensor.expectations(ds))
    rows, t0 = 0, time.perf_counter()
    for path, body in lakefs_io.stream_objects(clt, ds.repository, branch, paths):
        df = read_sensor_file(path, body, ds.sensor)
        assert not run.validate(path, sensor._with_derived_columns(df, ds.sensor)), path
        rows += len(df)
    return rows / (time.perf_counter() - t0)


def measure(base: str, name: str, mode: str) -> dict[str, Any]:
    """Ingest and validate one landed batch in this process (the child of :func:`main`)."""
    from devstack import processes
    from devstack.services import stack_from_env
    from include.retrain import steps
    from include.retrain.handoffs import RunLineage
    from include.retrain.jobs.submission import RayEndpoint
    from include.retrain.lake import lakefs_io
    from include.retrain.quality.checks import validate_files

    ds, stack = _dataset(base, name), stack_from_env()
    endpoint = stack.lakefs_endpoint()
    ray = None
    if mode == "ray":  # every run larger than 0 MB: examined on Ray
        ds = ds.model_copy(update={"validation": ds.validation.model_copy(update={"spread_above_mb": 0.0})})
        ray = RayEndpoint(stack.config.url("ray_dashboard"), stack.ray_token())
    import great_expectations  # noqa: F401 -- imported before the baseline RSS, as in a warm worker

    rss_before = processes.peak_rss_mb()
    run_id = f"scale__{uuid.uuid4().hex[:6]}"
    t0 = time.perf_counter()
    lineage = RunLineage(ds.dag_id, run_id, "2026-01-01")
    ingested = steps.ingest(ds, stack.s3_client(), "2026-01-01", endpoint, lineage)
    t1 = time.perf_counter()
    spread = None
    if mode == "in-memory":  # the baseline: every file of the batch in memory at once, as before streaming
        clt = lakefs_io.client(endpoint)
        paths = sorted(ingested["copied_paths"])
        files = dict(lakefs_io.stream_objects(clt, ds.repository, ingested["branch"], paths))
        batch = validate_files(ds, {p.removeprefix("data/"): b for p, b in files.items()})
        passed, bad = batch.passed, len(batch.bad)
    else:
        validated = steps.validate(ds, endpoint, ingested, lineage, ray)
        passed, bad = validated["passed"], validated["files_bad"]
        spread = validated.get("examined_on_ray")
        assert (spread is not None) == (mode == "ray"), spread
    t2 = time.perf_counter()
    assert passed and bad == 0, bad
    row_rate = None
    if ds.modality == "sensor" and mode == "stream":
        paths = sorted(lakefs_io.changed_paths(repo_of(endpoint, ds), ingested["branch"], lakefs_io.DATA_PREFIX))
        row_rate = row_suite_rate(ds, lakefs_io.client(endpoint), ingested["branch"], paths[:ROW_SUITE_FILES])
    lakefs_io.delete_branch(lakefs_io.ensure_repository(lakefs_io.client(endpoint), ds.repository), ingested["branch"])
    return {
        "files": ingested["copied"],
        "megabytes": round(ingested["bytes_copied"] / 1e6, 1),
        "ingest_s": round(t1 - t0, 2),
        "validate_s": round(t2 - t1, 2),
        "rss_before_mb": round(rss_before),
        "peak_rss_mb": round(processes.peak_rss_mb()),
        "row_suite_rows_per_s": row_rate,
        "on_ray": spread,
    }


def repo_of(endpoint: Any, ds: Any) -> Any:
    from include.retrain.lake import lakefs_io

    return lakefs_io.ensure_repository(lakefs_io.client(endpoint), ds.repository)


def _child(base: str, name: str, mode: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", base, name, "--mode", mode]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


class ServiceMemory(threading.Thread):
    """Samples the PSS of each of the stack's ``SERVICES`` (summed over its process tree) every
    ``interval`` seconds until :meth:`stop`; ``peaks`` and ``first`` are in MB."""

    def __init__(self, stack: Any, names: tuple[str, ...] = SERVICES, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.groups = {name: pgid for name in names if (pgid := stack.pid(name))}
        self.interval, self.done = interval, threading.Event()
        self.first: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    def run(self) -> None:
        from devstack import processes

        while True:
            children = processes.children()
            for name, pgid in self.groups.items():
                mb = _tree_pss_mb(pgid, children)
                self.first.setdefault(name, mb)
                self.peaks[name] = max(self.peaks.get(name, 0.0), mb)
            if self.done.wait(self.interval):
                return

    def stop(self) -> dict[str, dict[str, int]]:
        self.done.set()
        self.join()
        return {n: {"before_mb": round(self.first[n]), "peak_mb": round(self.peaks[n])} for n in self.peaks}


def _tree_pss_mb(root: int, children: dict[int, list[int]]) -> float:
    """The proportional set size of ``root`` and every process below it: a page they share (Ray's
    dashboard modules are forked from one server) counts once in all, where a sum of RSS counts it
    in each. A tree, not a process group: Ray puts each worker in a group of its own and each job's
    driver in a session of its own, all below the node's ``ray start``."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # ended between the listing and the read
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total / 1024


def _measured(stack: Any, base: str, name: str, mode: str = "stream") -> dict[str, Any]:
    """:func:`_child`, with the services' memory sampled while it runs."""
    sampler = ServiceMemory(stack, SERVICES + (RAY_NODES if mode == "ray" else ()))
    sampler.start()
    try:
        result = _child(base, name, mode)
    finally:
        services = sampler.stop()
    return {**result, "services": services}


def _label(r: dict[str, Any]) -> str:
    return f"{r['size']:,} {r['unit']}" + (" (in memory)" if r.get("baseline") else " (on Ray)" if r.get("ray") else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=1.0, help="scale every size by this factor")
    parser.add_argument("--only", choices=("images", "rows"), help="one modality: images or (sensor) rows")
    parser.add_argument("--rows", type=int, nargs="+", default=SENSOR_ROWS, help="sensor batch sizes in rows")
    parser.add_argument("--child", nargs=2, metavar=("BASE", "NAME"), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("stream", "in-memory", "ray"), default="stream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        base, name = args.child
        print(json.dumps(measure(base, name, args.mode)), flush=True)
        return
    from devstack.services import stack_from_env

    stack = stack_from_env()
    if not stack.is_up():
        raise SystemExit("the local stack is not up: run `make up` first")
    tag = uuid.uuid4().hex[:4]
    plans = [("cast_metal", "images", n) for n in IMAGES] + [("pump_fleet", "rows", n) for n in args.rows]
    plans = [p for p in plans if args.only in (None, p[1])]
    rows = []
    for base, unit, full in plans:
        size = max(int(full * args.fraction), 40 if unit == "images" else ROWS_PER_FILE)
        name = f"scale_{base.split('_')[0]}_{size}_{tag}"
        files = land(base, name, size)
        print(f"landed {size:,} {unit} of {base} in {files:,} files; measuring ...", flush=True)
        rows.append({"base": base, "unit": unit, "size": size, **_measured(stack, base, name)})
        if unit == "images" and full == max(IMAGES):
            # baseline: the same landed batch again, validated with every file in memory
            in_memory = _measured(stack, base, name, "in-memory")
            rows.append({"base": base, "unit": unit, "size": size, "baseline": True, **in_memory})
        if unit == "rows":  # the same landed batch again, its files examined by a Ray job
            rows.append({"base": base, "unit": unit, "size": size, "ray": True, **_measured(stack, base, name, "ray")})

    print()
    print(f"{'batch':>26} {'files':>7} {'MB':>7} {'ingest':>18} {'validate':>18} {'peak RSS':>9} {'+data':>7}")
    for r in rows:
        label = _label(r)
        unit = "img" if r["unit"] == "images" else "rows"
        print(
            f"{label:>26} {r['files']:>7,} {r['megabytes']:>7} "
            f"{r['ingest_s']:>6.1f}s {r['size'] / r['ingest_s']:>6.0f} {unit}/s "
            f"{r['validate_s']:>6.1f}s {r['size'] / r['validate_s']:>6.0f} {unit}/s "
            f"{r['peak_rss_mb']:>6} MB {r['peak_rss_mb'] - r['rss_before_mb']:>4} MB"
        )
    print()
    print("peak PSS of the stack's services during each batch (before it -> peak, MB):")
    for r in rows:
        label = _label(r)
        parts = [f"{n} {m['before_mb']:,} -> {m['peak_mb']:,}" for n, m in r["services"].items()]
        together = r["peak_rss_mb"] + sum(m["peak_mb"] for m in r["services"].values())
        print(f"{label:>26}: " + ", ".join(parts) + f"; with the batch's process, at most {together:,} MB")
    print()
    for base in sorted({r["base"] for r in rows}):
        runs = [r for r in rows if r["base"] == base and not r.get("baseline") and not r.get("ray")]
        small, large = runs[0], runs[-1]
        per_file = [(r["ingest_s"] + r["validate_s"]) / r["size"] for r in (small, large)]
        growth = large["size"] / small["size"]
        line = (
            f"{base}: {growth:.0f}x the data -> time per {small['unit'][:-1]} x{per_file[1] / per_file[0]:.2f} "
            f"(1.0 = linear); peak RSS x{large['peak_rss_mb'] / small['peak_rss_mb']:.2f} (streamed)"
        )
        baseline = next((r for r in rows if r["base"] == base and r.get("baseline")), None)
        if baseline:
            line += f" vs x{baseline['peak_rss_mb'] / small['peak_rss_mb']:.2f} (all in memory)"
        print(line)
        for r in rows:
            if r["base"] == base and r.get("on_ray"):
                spread, inline = r["on_ray"], next(x for x in runs if x["size"] == r["size"])
                print(
                    f"  {r['size']:,} rows on Ray: validate {r['size'] / r['validate_s']:,.0f} rows/s "
                    f"({inline['validate_s'] / r['validate_s']:.2f}x the task's threads; the job's own "
                    f"{spread['seconds']:.1f} s); {spread['tasks']} tasks on {spread['nodes']} nodes "
                    f"{spread['tasks_per_node']}"
                )
        for r in runs:
            if r.get("row_suite_rows_per_s"):
                rate = r["size"] / r["validate_s"]
                print(
                    f"  {r['size']:,} rows: validate {rate:,.0f} rows/s vs the row-by-row suite "
                    f"{r['row_suite_rows_per_s']:,.0f} rows/s on {ROW_SUITE_FILES} of its files = "
                    f"{rate / r['row_suite_rows_per_s']:.1f}x"
                )


if __name__ == "__main__":
    main()
