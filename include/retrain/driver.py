"""Drive DAG runs through a running local stack's REST API (``make run``, e2e tests)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .stack.services import Stack


def run_dag(
    stack: Stack,
    dag_id: str,
    logical_date: str | None,
    conf: dict[str, Any] | None = None,
    run_id: str | None = None,
    timeout: float = 1800,
) -> dict[str, Any]:
    """Trigger ``dag_id`` (unpausing it), wait until it ends, print failed tasks' log tails.

    Returns:
        The final DAG run (``state`` is ``success`` or ``failed``), plus ``elapsed`` seconds.
    """
    out, api = stack.out, stack.airflow_api()
    api.wait_for_dag(dag_id)
    api.unpause(dag_id)
    t0 = time.monotonic()
    existing = api.run_at(dag_id, logical_date) if logical_date else None
    if existing:  # a date already run: clear and rerun it, as a user would from the UI
        run = existing
        api.clear_run(dag_id, run["dag_run_id"])
        out(f"cleared existing {dag_id} run {run['dag_run_id']} for {logical_date}; rerunning ...")
    else:
        run = api.trigger(dag_id, logical_date, conf=conf, run_id=run_id)
        out(f"triggered {dag_id} run {run['dag_run_id']}; waiting ...")
    run = api.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)
    run["elapsed"] = time.monotonic() - t0
    if run["state"] != "success":
        out(f"{dag_id} run {run['dag_run_id']}: FAILED after {run['elapsed']:.0f}s")
        for ti in api.task_instances(dag_id, run["dag_run_id"]):
            if ti["state"] == "failed":
                log = api.task_log(dag_id, run["dag_run_id"], ti["task_id"], max(ti.get("try_number") or 1, 1))
                out(f"  task {ti['task_id']} failed; last lines of its log:")
                out("\n".join("    " + line for line in log.splitlines()[-25:]))
    return run


def run_url(stack: Stack, dag_id: str, run_id: str) -> str:
    return f"{stack.config.url('airflow')}/dags/{dag_id}/runs/{run_id}"


def ui_lines(stack: Stack) -> list[str]:
    c = stack.config
    return [
        f"UIs (credentials in {stack.credentials_file}):",
        f"  Airflow  {c.url('airflow')}   (user {stack.creds.airflow_username}, password: airflow_password)",
        f"  lakeFS   {c.url('lakefs')}    (access key / secret: lakefs_access_key_id / lakefs_secret_access_key)",
        f"  MLflow   {c.url('mlflow')}",
        f"  Ray      {c.url('ray_dashboard')}",
    ]
