"""Failure alerts: what a person on call needs to act, in one small JSON document."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def payload(
    dataset: str, dag_id: str, run_id: str, task_id: str, try_number: int, reason: str, airflow_url: str
) -> dict[str, Any]:
    link = f"{run_link(airflow_url, dag_id, run_id)}/tasks/{task_id}"
    first_line = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
    return {
        "kind": "failure",
        "summary": f"{dag_id} failed at {task_id} (dataset {dataset}): {first_line[:300]}",
        "dataset": dataset,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "try_number": try_number,
        "reason": reason[:4000],
        "link": link,
    }


def run_link(airflow_url: str, dag_id: str, run_id: str) -> str:
    return f"{airflow_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id, safe='')}"


def deadline_payload(
    dataset: str, dag_id: str, run_id: str, limit_minutes: float, deadline_time: str, state: str, airflow_url: str
) -> dict[str, Any]:
    """A run still going at its deadline: it is not failed, but someone should look."""
    return {
        "kind": "deadline",
        "summary": f"{dag_id} run {run_id} exceeded its {limit_minutes:g} min deadline (dataset {dataset}, {state})",
        "dataset": dataset,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": None,
        "deadline": deadline_time,
        "state": state,
        "reason": f"not finished {limit_minutes:g} min after it was queued",
        "link": run_link(airflow_url, dag_id, run_id),
    }
