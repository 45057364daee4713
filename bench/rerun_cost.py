"""No-change rerun vs a full nightly run, and the orchestration overhead of the full run, through
the real scheduler of the local stack.

Runs one date of a dataset in full (new data: ingest, validate, merge, Ray Tune, evaluate,
publish), then clears and reruns it (nothing new, no drift). Needs ``make up``.

    PYTHONPATH=. .venv/bin/python bench/rerun_cost.py [--dataset pump_fleet] [--date 2026-10-01]
"""

from __future__ import annotations

import argparse

from devstack import nightly
from devstack.nightly import run_dag
from devstack.services import stack_from_env
from include.retrain import config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="pump_fleet")
    parser.add_argument("--date", default="2026-10-01", help="a partition date not run before")
    args = parser.parse_args()
    stack = stack_from_env(out=lambda _: None)
    if not stack.is_up():
        raise SystemExit("the local stack is not up: run `make up` first")
    ds = config.get(args.dataset)
    nightly.seed(stack, ds, args.date)
    api, when = stack.airflow_api(), nightly.logical_date(ds, args.date)
    figures = {}
    for label in ("full run", "no-change rerun"):
        run = run_dag(stack, ds.dag_id, when, timeout=1800)
        assert run["state"] == "success", run
        ingest = api.xcom(ds.dag_id, run["dag_run_id"], "ingest")
        out = api.xcom(ds.dag_id, run["dag_run_id"], "summarize")
        figures[label] = run["elapsed"]
        trained = "skipped" if out.get("training", {}).get("skipped") else "trained"
        print(
            f"{label:<16} {run['elapsed']:6.1f}s  uploaded {ingest['bytes_copied']:>9} bytes "
            f"({ingest['copied']} objects), {trained}"
        )
        if label == "full run":
            if not ingest["copied"] or trained == "skipped":
                raise SystemExit(
                    f"{args.date} of {ds.name} was already run on this stack, so this was no full run: "
                    "pass --date with a partition date not run before"
                )
            compute = compute_seconds(api, ds.dag_id, run["dag_run_id"])
    ratio = figures["no-change rerun"] / figures["full run"]
    print(f"no-change rerun cost = {ratio:.1%} of a full run [goal <= 5%, 0 bytes, training skipped]")
    overhead = figures["full run"] / compute - 1
    print(
        f"orchestration overhead of the full run = {overhead:.1%} beyond its compute stages "
        f"({figures['full run']:.1f}s wall vs {compute:.1f}s in ingest, validate, publish, train, evaluate) "
        "[goal <= 15%]"
    )


COMPUTE_TASKS = ("ingest", "validate", "publish_data", "train", "evaluate")


def compute_seconds(api, dag_id: str, run_id: str) -> float:
    """Sum of the compute stages' own durations (the Ray jobs' whole time for train and evaluate)."""
    tis = {t["task_id"]: t for t in api.task_instances(dag_id, run_id)}
    return sum(float(tis[t]["duration"] or 0) for t in COMPUTE_TASKS if t in tis)


if __name__ == "__main__":
    main()
