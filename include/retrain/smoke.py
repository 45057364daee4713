"""The platform smoke test: one object through every link of the chain.

landing (S3) -> lakeFS branch, commit, merge -> Ray job (Jobs API) -> MLflow run.
The DAG ``smoke_platform`` wires these functions; ``run_smoke`` drives it
through a running local stack (``make run``).
"""

from __future__ import annotations

import datetime as dt
from typing import IO, TYPE_CHECKING, Any

from . import lakefs_io
from .endpoints import LakeFSEndpoint

if TYPE_CHECKING:
    from .stack.services import Stack

DAG_ID = "smoke_platform"
REPOSITORY = "smoke"
LANDING_PREFIX = "smoke"


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


def publish_object(
    endpoint: LakeFSEndpoint, body: IO[bytes], path: str, metadata: dict[str, str], branch_name: str
) -> dict[str, str]:
    """Write one object to a run branch, commit it with ``metadata``, merge into main, drop the branch.

    Returns:
        ``{"repository", "branch", "commit"}`` where ``commit`` is main's head after the merge.
    """
    clt = lakefs_io.client(endpoint)
    repo = lakefs_io.ensure_repository(clt, REPOSITORY)
    branch = lakefs_io.ensure_branch(repo, branch_name)
    lakefs_io.upload(branch, path, body, content_type="text/csv")
    lakefs_io.commit_if_changed(branch, f"smoke: ingest {path}", metadata)
    commit = lakefs_io.merge_into_main(repo, branch, f"smoke: merge {branch_name}", metadata)
    lakefs_io.delete_branch(repo, branch_name)
    return {"repository": REPOSITORY, "branch": branch_name, "commit": commit}


def log_mlflow_run(
    tracking_uri: str, lakefs_commit: str, ray_submission_id: str, ray_result: dict[str, Any], airflow_run_id: str
) -> dict[str, str]:
    """Record the smoke run in MLflow experiment ``smoke``; returns its experiment and run ids."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.set_experiment("smoke")
    with mlflow.start_run(run_name=f"smoke {airflow_run_id}") as run:
        mlflow.set_tags(
            {
                "lakefs.repo": REPOSITORY,
                "lakefs.commit": lakefs_commit,
                "airflow.dag_id": DAG_ID,
                "airflow.run_id": airflow_run_id,
                "ray.submission_id": ray_submission_id,
            }
        )
        mlflow.log_metric("ray_sum_of_squares", float(ray_result.get("sum_of_squares", -1)))
    return {"experiment_id": experiment.experiment_id, "run_id": run.info.run_id}


# -- driving the DAG through a running stack (make run) ------------------------------------------
def seed_landing(stack: Stack, date: str) -> str:
    key = landing_key(date)
    stack.s3_client().put_object(Bucket=stack.config.landing_bucket, Key=key, Body=sample_csv(date))
    return key


def run_smoke(stack: Stack, date: str | None = None, timeout: float = 900) -> int:
    """Seed the landing zone, trigger ``smoke_platform`` through the API, wait and print a summary."""
    from .driver import run_dag, run_url, ui_lines

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
