"""Submit training programs to a Ray cluster through the Jobs API, idempotently.

A submission id is derived from the Airflow task and its rendered command, so a
retry finds the job its previous try submitted: a running job is reattached, a finished one is reused,
and a failed or stopped one is deleted and submitted again.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

RESULT_PREFIX = "RETRAIN_RESULT "
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
INCLUDE_DIR = Path(__file__).resolve().parents[1]


def submission_id(dag_id: str, run_id: str, task_id: str, entrypoint: str = "") -> str:
    """A stable, readable Ray submission id for one Airflow task of one DAG run and its command.

    The rendered command (which names the lakeFS commit and the params) is part of the id: a retry
    or a clear with the same inputs finds the same job, while a rerun on new data is a new job.
    """
    raw = f"{dag_id}:{run_id}:{task_id}:{entrypoint}"
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{dag_id}-{task_id}")[:60].strip("-")
    return f"airflow-{slug}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def runtime_env(extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Ship the ``include`` package with the job, so its entrypoint imports our code."""
    return {
        "py_modules": [str(INCLUDE_DIR)],
        "env_vars": {"PYTHONUNBUFFERED": "1", **(extra_env or {})},
    }


def job_client(address: str) -> Any:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)


def submit_or_reattach(
    client: Any,
    sub_id: str,
    entrypoint: str,
    env: dict[str, Any],
    metadata: dict[str, str] | None = None,
    entrypoint_num_cpus: float | None = None,
) -> str:
    """Make sure a job with ``sub_id`` runs or has succeeded.

    Returns:
        What was done: ``submitted``, ``reattached`` (pending or running) or ``reused`` (succeeded).
    """
    status = job_status(client, sub_id)
    if status in ("PENDING", "RUNNING"):
        return "reattached"
    if status == "SUCCEEDED":
        return "reused"
    if status in ("FAILED", "STOPPED"):
        client.delete_job(sub_id)
    client.submit_job(
        entrypoint=entrypoint,
        submission_id=sub_id,
        runtime_env=env,
        metadata=metadata or {},
        entrypoint_num_cpus=entrypoint_num_cpus,
    )
    return "submitted"


def job_status(client: Any, sub_id: str) -> str | None:
    """The job's status name, or None when the cluster does not know the id."""
    try:
        info = client.get_job_info(sub_id)
    except RuntimeError as exc:  # the client raises RuntimeError on 404
        if "does not exist" in str(exc) or "404" in str(exc):
            return None
        raise
    return str(info.status.value if hasattr(info.status, "value") else info.status)


def parse_result(logs: str) -> dict[str, Any]:
    """The last ``RETRAIN_RESULT {...}`` line a job printed (its structured return value)."""
    for line in reversed(logs.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    return {}


def emit_result(result: dict[str, Any]) -> None:
    """Print a job's structured result for :func:`parse_result` (call it last in an entrypoint)."""
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)
