"""Failure alerts: what a person on call needs to act, in one small JSON document."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def payload(
    dataset: str, dag_id: str, run_id: str, task_id: str, try_number: int, reason: str, airflow_url: str
) -> dict[str, Any]:
    link = f"{airflow_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}"
    first_line = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
    return {
        "summary": f"{dag_id} failed at {task_id} (dataset {dataset}): {first_line[:300]}",
        "dataset": dataset,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "try_number": try_number,
        "reason": reason[:4000],
        "link": link,
    }
