"""How the Ray jobs of this package are started and how they answer, through the Jobs API.

* their command lines, as Jinja templates that Airflow renders at run time;
* a submission id derived from the Airflow task, its rendered command and its try: a retry or a
  Clear reattaches to a job an earlier try left running, and otherwise runs the job again (a
  cleared ``evaluate`` scores against today's champion, a cleared ``train`` trains again);
* the runtime env: the ``include`` folder (this package, datasets.yaml, reference images), and
  nothing of the dev stack;
* the result protocol: a job prints one ``RETRAIN_RESULT {json}`` line last;
* the error protocol: a job that fails prints one ``RETRAIN_ERROR {json}`` line with its error
  and whether a retry could help (bad data, a split that cannot be made: no), so the task log, the
  alert and the run note quote the error, not the job's first log lines.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULT_PREFIX = "RETRAIN_RESULT "
ERROR_PREFIX = "RETRAIN_ERROR "
# The last line of a Python traceback: "package.module.SomeError: message".
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failure)\b(?::.*)?$")
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
ACTIVE = ("PENDING", "RUNNING")
INCLUDE_DIR = Path(__file__).resolve().parents[2]
# Never shipped to a job: caches and editor droppings (gitignore syntax, relative to INCLUDE_DIR).
SHIP_EXCLUDES = ["__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache"]

# The command lines read the typed task results by their field names (handoffs.Published.commit,
# RayJob.result -> TrainResult.run_id) and the trigger params by theirs (config.TriggerParams).
_COMMIT = "{{ ti.xcom_pull(task_ids='publish_data')['commit'] }}"


def train_command(dataset: str) -> str:
    return (
        f"python -m include.retrain.jobs.train --dataset {dataset} --commit {_COMMIT}"
        " --airflow-run-id '{{ run_id }}'"
        "{% if params.num_samples %} --num-samples {{ params.num_samples }}{% endif %}"
        "{% if params.max_epochs %} --max-epochs {{ params.max_epochs }}{% endif %}"
        "{% if params.gpus_per_trial is not none %} --gpus-per-trial {{ params.gpus_per_trial }}{% endif %}"
        "{% if params.train_label_noise %} --train-label-noise {{ params.train_label_noise }}{% endif %}"
    )


def evaluate_command(dataset: str) -> str:
    return (
        f"python -m include.retrain.jobs.evaluate --dataset {dataset} --commit {_COMMIT}"
        " --run-id {{ ti.xcom_pull(task_ids='train')['result']['run_id'] }}"
    )


def submission_id(dag_id: str, run_id: str, task_id: str, entrypoint: str = "") -> str:
    """A stable, readable Ray submission id for one Airflow task of one DAG run and its command.

    The rendered command (which names the lakeFS commit and the params) is part of the id: a retry
    or a clear with the same inputs finds the same job, while a rerun on new data is a new job.
    """
    raw = f"{dag_id}:{run_id}:{task_id}:{entrypoint}"
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{dag_id}-{task_id}")[:60].strip("-")
    return f"airflow-{slug}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def runtime_env(extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Ship the ``include`` folder with the job, so its entrypoint imports this package."""
    return {
        "py_modules": [str(INCLUDE_DIR)],
        "excludes": SHIP_EXCLUDES,
        # no download progress bars: the job's log is the task log an operator reads
        "env_vars": {"PYTHONUNBUFFERED": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **(extra_env or {})},
    }


@dataclass(frozen=True)
class RayEndpoint:
    """Where the Jobs API is (the dashboard's URL) and the cluster's auth token, if any."""

    address: str
    token: str | None = None


def job_client(address: str, token: str | None = None) -> Any:
    """A Jobs API client; ``token`` is the cluster's auth token (``RAY_AUTH_MODE=token``)."""
    from ray.job_submission import JobSubmissionClient

    headers = {"Authorization": f"Bearer {token}"} if token else None
    return JobSubmissionClient(address, headers=headers)


def try_ids(base: str, try_number: int) -> tuple[str, list[str]]:
    """The submission id of try ``try_number`` of a task, and those of its earlier tries (newest first)."""
    return f"{base}-t{try_number}", [f"{base}-t{n}" for n in range(try_number - 1, 0, -1)]


def running_job(client: Any, sub_ids: list[str]) -> str | None:
    """The first of ``sub_ids`` that is still pending or running (a try that crashed while its job ran)."""
    for sub_id in sub_ids:
        if job_status(client, sub_id) in ACTIVE:
            return sub_id
    return None


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
        What was done: ``submitted``, ``reattached`` (pending or running) or ``reused`` (the same
        id succeeded: the same try resumed after a deferral).
    """
    status = job_status(client, sub_id)
    if status in ACTIVE:
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
    return _name(info.status)


def _name(status: Any) -> str:
    return str(status.value if hasattr(status, "value") else status)


def stop_running(client: Any, prefix: str) -> list[str]:
    """Stop every pending or running job whose submission id starts with ``prefix``; their ids."""
    stopped = []
    for job in client.list_jobs():
        if (job.submission_id or "").startswith(prefix) and _name(job.status) in ACTIVE:
            client.stop_job(job.submission_id)
            stopped.append(job.submission_id)
    return stopped


@contextlib.contextmanager
def stopped_on_term(client: Any, sub_id: str) -> Iterator[None]:
    """Stop Ray job ``sub_id`` if this process is told to end (SIGTERM) inside the block.

    Airflow's supervisor sends a task process SIGTERM when an operator marks the running task
    failed or clears it; a job the task waits for would otherwise run on with no try left to read
    it. The handler stops the job, then hands the signal to the handler it replaced (Airflow's,
    which calls the operator's ``on_kill``; or the default, which ends the process). The previous
    handler is back after the block. Signals are handled in the main thread only: elsewhere the
    block runs unguarded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        try:
            client.stop_job(sub_id)
            logging.getLogger(__name__).warning("told to end (SIGTERM): stopped Ray job %s", sub_id)
        except Exception as exc:  # the job may have ended, the cluster gone: the signal still counts
            logging.getLogger(__name__).warning("told to end (SIGTERM): could not stop Ray job %s: %s", sub_id, exc)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # the default: end as the signal says
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def wait_for_end(client: Any, sub_id: str, timeout: float, poll: float = 0.5) -> str | None:
    """The job's final status once it ends, or None if it has not after ``timeout`` seconds
    (with ``timeout`` 0, None without asking)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(client, sub_id)
        if status in TERMINAL:
            return status
        time.sleep(min(poll, max(deadline - time.monotonic(), 0.0)))
    return None


def parse_result(logs: str) -> dict[str, Any]:
    """The last ``RETRAIN_RESULT {...}`` line a job printed (its structured return value)."""
    for line in reversed(logs.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    return {}


def emit_result(result: Mapping[str, Any]) -> None:
    """Print a job's structured result for :func:`parse_result` (call it last in an entrypoint)."""
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)


@dataclass(frozen=True)
class JobError:
    message: str
    retry: bool  # whether running the job again could succeed


def emit_error(message: str, retry: bool) -> None:
    """Print a job's error for :func:`parse_error`."""
    print(ERROR_PREFIX + json.dumps({"message": message, "retry": retry}), flush=True)


def parse_error(logs: str) -> JobError | None:
    """A failed job's error: its ``RETRAIN_ERROR`` line, else the last line of its last traceback."""
    lines = logs.splitlines()
    for line in reversed(lines):
        if line.startswith(ERROR_PREFIX):
            data = json.loads(line[len(ERROR_PREFIX) :])
            return JobError(str(data["message"]), bool(data["retry"]))
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line.strip()):
            return JobError(line.strip(), True)
    return None


def run_job(entrypoint: Callable[[], None]) -> None:
    """Run a job's ``main``, announcing any error with :func:`emit_error` before the job exits 1.

    Errors that the same inputs raise again (bad data at the commit, a split that cannot be made,
    a bad config entry) say ``retry: false``: retrying only delays the alert.
    """
    from ..config import ConfigError  # here, not at the top: the DAG files import this module
    from ..ml.dataset import UntrustedData
    from ..ml.splits import SplitUnfit

    try:
        entrypoint()
    except (SplitUnfit, UntrustedData, ConfigError) as exc:
        emit_error(str(exc), retry=False)
        sys.exit(1)
    except SystemExit as exc:
        if isinstance(exc.code, str):  # raise SystemExit("message"): the job's own clear error
            emit_error(exc.code, retry=True)
        raise
    except Exception as exc:
        emit_error(f"{type(exc).__name__}: {exc}", retry=True)
        raise
