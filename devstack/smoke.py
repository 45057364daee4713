"""``make smoke``: drive the platform smoke DAG (``smoke_platform``) through a running local stack."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from include.retrain.smoke_steps import DAG_ID, LANDING_PREFIX

from .nightly import run_dag, run_url, ui_lines

if TYPE_CHECKING:
    from .services import Stack


def landing_key(date: str) -> str:
    return f"{LANDING_PREFIX}/dt={date}/readings.csv"


def sample_csv(date: str, rows: int = 50) -> bytes:
    """A small, deterministic sensor-like table for the smoke run."""
    lines = ["asset_id,timestamp,vibration_x,temperature,label"]
    start = dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC)
    for i in range(rows):
        ts = (start + dt.timedelta(seconds=i)).isoformat()
        lines.append(f"pump-{i % 3:02d},{ts},{0.1 * (i % 7):.3f},{60 + i % 5}.0,normal")
    return ("\n".join(lines) + "\n").encode()


def seed_landing(stack: Stack, date: str) -> str:
    key = landing_key(date)
    stack.s3_client().put_object(Bucket=stack.config.landing_bucket, Key=key, Body=sample_csv(date))
    return key


def run_smoke(stack: Stack, date: str | None = None, timeout: float = 900) -> int:
    """Seed the landing zone, trigger ``smoke_platform`` through the API, wait and print a summary."""
    out = stack.out
    date = date or dt.datetime.now(dt.UTC).date().isoformat()
    key = seed_landing(stack, date)
    out(f"seeded s3://{stack.config.landing_bucket}/{key}")
    run = run_dag(stack, DAG_ID, dt.datetime.now(dt.UTC).isoformat(), conf={"landing_date": date}, timeout=timeout)
    out("")
    out(f"Smoke run {run['dag_run_id']}: {run['state'].upper()} in {run['elapsed']:.0f}s")
    out(f"  Airflow run:  {run_url(stack, DAG_ID, run['dag_run_id'])}")
    if run["state"] != "success":
        return 1
    summary = stack.airflow_api().xcom(DAG_ID, run["dag_run_id"], "summarize")
    for line in [*format_summary(summary, stack), "", *ui_lines(stack)]:
        out(line)
    return 0


def format_summary(summary: dict[str, Any], stack: Stack) -> list[str]:
    c = stack.config
    lakefs_url = f"{c.url('lakefs')}/repositories/{summary['repository']}/commits/{summary['commit']}"
    mlflow_url = f"{c.url('mlflow')}/#/experiments/{summary['experiment_id']}/runs/{summary['mlflow_run_id']}"
    ray_url = f"{c.url('ray_dashboard')}/#/jobs/{summary['ray_submission_id']}"
    return [
        f"  landing:      s3://{summary['bucket']}/{summary['key']} ({summary['size']} bytes, via S3Hook)",
        f"  lakeFS:       {summary['repository']}@main commit {summary['commit'][:12]}  {lakefs_url}",
        f"  Ray job:      {summary['ray_submission_id']} {summary['ray_status']} "
        f"(sum of squares {summary['ray_sum_of_squares']})  {ray_url}",
        f"  MLflow run:   {summary['mlflow_run_id']}  {mlflow_url}",
    ]
