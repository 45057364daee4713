"""Calls to Airflow's own REST API from a task: the DAG-run note and the run's task durations
(no Task SDK call exists for either)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook

log = logging.getLogger(__name__)
AIRFLOW_API_CONN = "airflow_api"


def session(conn_id: str, wait_seconds: float = 0) -> tuple[str, dict[str, str]]:
    """(api-server URL, auth header): the connection's user buys a JWT (``POST /auth/token``),
    trying again for up to ``wait_seconds`` while the api-server does not answer yet."""
    import time

    import requests

    conn = BaseHook.get_connection(conn_id)
    base = (conn.host or "").rstrip("/")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            login = requests.post(
                f"{base}/auth/token", json={"username": conn.login, "password": conn.password}, timeout=10
            )
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    login.raise_for_status()
    return base, {"Authorization": f"Bearer {login.json()['access_token']}"}


def _run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"


def set_dag_run_note(dag_id: str, run_id: str, note: str, conn_id: str = AIRFLOW_API_CONN) -> bool:
    """Best effort: a run summary must never fail the run. Returns whether the note was written.

    The connection holds the api-server's URL and a user allowed to edit DAG runs.
    """
    import requests

    try:
        base, headers = session(conn_id)
        resp = requests.patch(
            f"{base}{_run_path(dag_id, run_id)}",
            params={"update_mask": "note"},
            json={"note": note},
            headers=headers,
            timeout=10,
        )
        resp.raise_for_status()
        return True
    except Exception as exc:  # best effort: any failure only costs the note
        log.warning("could not write the DAG-run note through connection %r: %s", conn_id, exc)
        return False


RAN = ("success", "failed")  # task states whose duration is this try's


def task_durations(dag_id: str, run_id: str, conn_id: str = AIRFLOW_API_CONN) -> dict[str, float]:
    """Seconds each task that ran in the run's current try took, by task id; {} when the API
    cannot be reached (the cost is then reported as unknown, the run goes on).

    Only tasks that ran count (success or failed): after a Clear, a task the new try skips keeps
    the start, end and duration of the try before, which would be counted again."""
    import requests

    try:
        base, headers = session(conn_id)
        resp = requests.get(
            f"{base}{_run_path(dag_id, run_id)}/taskInstances", params={"limit": 100}, headers=headers, timeout=10
        )
        resp.raise_for_status()
        items: list[dict[str, Any]] = resp.json().get("task_instances", [])
    except Exception as exc:
        log.warning("could not read the task durations through connection %r: %s", conn_id, exc)
        return {}
    ran = [t for t in items if t.get("state") in RAN and t.get("duration") is not None]
    return {t["task_id"]: round(float(t["duration"]), 1) for t in ran}
