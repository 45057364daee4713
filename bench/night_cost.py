"""The cost of a night as history grows: nights 1..N of the same nightly volume through the real
scheduler, on a stack of its own that starts empty.

Starts a stack in a temporary state folder (free ports, beside a dev stack), lands one partition a
night of ``--dataset`` (the sample data of ``make run``, ``--assets`` machines, ``--rows`` rows per
segment) and runs each night's DAG run to its end. Prints every night's wall time and the own
durations of its compute stages (ingest, validate, publish_data, train, evaluate), then the 2nd,
3rd and last night against the 1st, in total and per stage. Goal (#15): the 10th night <= 1.2x
the 1st at the same nightly volume.

``--budget-mb`` and ``--holdout-budget-mb`` lower the dataset's ``tune.train_budget_mb`` and
``gate.holdout_budget_mb`` (in a datasets.yaml of the bench's own, which the stack's Airflow and
Ray read): at this volume the shipped 512 and 256 MB are never full, so every night is trained
on and evaluated on; with budgets that a few nights fill, the training and the evaluation read
only the newest nights that fill them, and the later nights show what full budgets cost.

When a gate is inconclusive, the bench answers the approval at once with "Promote" (as a person
who agrees would), so no night waits for the approval timeout.

    PYTHONPATH=. .venv/bin/python bench/night_cost.py [--nights 10] [--dataset pump_fleet]
        [--budget-mb 3] [--holdout-budget-mb 1] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("ingest", "validate", "publish_data", "train", "evaluate")


def approve_when_asked(api, dag_id: str, stop: threading.Event) -> None:
    """Answer "Promote" to every approval of ``dag_id`` that waits for a person, until ``stop``."""
    while not stop.wait(3):
        try:
            runs = api.request("GET", f"dags/{dag_id}/dagRuns", params={"state": "running"}).json()["dag_runs"]
            for run in runs:
                for ti in api.task_instances(dag_id, run["dag_run_id"]):
                    if ti["state"] == "awaiting_input":
                        where = f"dags/{dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}"
                        path = f"{where}/taskInstances/{ti['task_id']}/-1/hitlDetails"
                        api.request("PATCH", path, json={"chosen_options": ["Promote"]})
                        print(f"  approval of {run['dag_run_id']} answered: Promote", flush=True)
        except Exception as exc:  # a poll that fails is retried at the next one
            print(f"  approval poll: {exc}", flush=True)


def with_budgets(path: Path, name: str, train_mb: float | None, holdout_mb: float | None) -> Path:
    """A copy of the datasets.yaml in use at ``path``, with ``name``'s ``tune.train_budget_mb`` and
    ``gate.holdout_budget_mb`` set (those given)."""
    import yaml

    from include.retrain import config

    body = yaml.safe_load(config.datasets_file().read_text())
    (entry,) = (d for d in body["datasets"] if d["name"] == name)
    if train_mb is not None:
        entry.setdefault("tune", {})["train_budget_mb"] = train_mb
    if holdout_mb is not None:
        entry.setdefault("gate", {})["holdout_budget_mb"] = holdout_mb
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def main() -> int:
    from devstack import nightly
    from devstack.services import Stack
    from devstack.stack_config import PORTS, StackConfig, free_ports
    from include.retrain import config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nights", type=int, default=10)
    parser.add_argument("--dataset", default="pump_fleet")
    parser.add_argument("--assets", type=int, default=24, help="machines a night (sensor datasets)")
    parser.add_argument("--rows", type=int, default=512, help="rows per segment of a machine-night (sensors)")
    parser.add_argument("--budget-mb", type=float, help="the dataset's tune.train_budget_mb (default: its own)")
    parser.add_argument(
        "--holdout-budget-mb", type=float, help="the dataset's gate.holdout_budget_mb (default: its own)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    if args.budget_mb is not None or args.holdout_budget_mb is not None:
        budgets = with_budgets(state / "datasets.yaml", args.dataset, args.budget_mb, args.holdout_budget_mb)
        os.environ[config.ENV_VAR] = str(budgets)
    ds = config.get(args.dataset)
    volume = {"assets": args.assets, "rows_per_segment": args.rows} if ds.modality == "sensor" else {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a terminated bench still stops its stack
    stack = Stack(StackConfig(state_dir=state, ports=dict(zip(PORTS, free_ports(len(PORTS)), strict=True))))
    stack.up()
    nights = []
    stop = threading.Event()
    try:
        api = stack.airflow_api()
        threading.Thread(target=approve_when_asked, args=(api, ds.dag_id, stop), daemon=True).start()
        for night in range(1, args.nights + 1):
            date = (dt.date(2026, 10, 1) + dt.timedelta(days=night - 1)).isoformat()
            landed = nightly.seed(stack, ds, date, **nightly.MAKE_RUN_SAMPLE_DATA[ds.modality], **volume)
            run = nightly.run_dag(stack, ds.dag_id, nightly.logical_date(ds, date), timeout=3600)
            tis = {t["task_id"]: t for t in api.task_instances(ds.dag_id, run["dag_run_id"])}
            stages = {s: float(tis[s]["duration"] or 0) for s in STAGES if s in tis}
            summary = api.xcom(ds.dag_id, run["dag_run_id"], "summarize") or {}
            gate = summary.get("gate", {}).get("decision")
            trained = sum(((summary.get("training") or {}).get("samples") or {}).get("train", {}).values())
            nights.append({"night": night, "wall": run["elapsed"], "stages": stages, "state": run["state"]})
            print(
                f"night {night} ({date}, {landed} files): {run['state']} in {run['elapsed']:.1f}s; "
                + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
                + f"; trained on {trained:,} samples; gate {gate}",
                flush=True,
            )
    finally:
        stop.set()
        if not args.keep:
            stack.down()
            shutil.rmtree(state, ignore_errors=True)
    first = nights[0]
    print("\n| night | wall | " + " | ".join(STAGES) + " | wall vs night 1 |")
    print("|---" * (len(STAGES) + 3) + "|")
    for n in nights:
        cells = " | ".join(f"{n['stages'].get(s, 0):.1f} s" for s in STAGES)
        print(f"| {n['night']} | {n['wall']:.1f} s | {cells} | {n['wall'] / first['wall']:.2f}x |")
    for n in (x for x in nights[1:] if x["night"] in (2, 3, len(nights))):
        per_stage = ", ".join(
            f"{s} {n['stages'].get(s, 0) / max(first['stages'].get(s, 0), 1e-9):.2f}x" for s in STAGES
        )
        print(f"night {n['night']} vs night 1: wall {n['wall'] / first['wall']:.2f}x ({per_stage})")
    print(f"[goal: the 10th night <= 1.2x the 1st]  ({time.strftime('%Y-%m-%d')})")
    return 0 if all(n["state"] == "success" for n in nights) else 1


if __name__ == "__main__":
    raise SystemExit(main())
