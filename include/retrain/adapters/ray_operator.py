"""A deferrable operator that runs a Ray job through the Jobs API, and its trigger.

No maintained Airflow 3 Ray provider exists, so this is ours. The trigger lives
in an importable module (not a DAG file) so a real triggerer can load it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from ..handoffs import RayJob
from ..jobs import submission
from .connections import RAY_CONN, aray_token, ray_address, ray_token
from .extra_links import LinksMixin


def log_job_lines(log: Any, sub_id: str, lines: list[str]) -> None:
    """Lines of a job's log into the task log, each prefixed ``[ray <job id>]`` (docs/operations.md)."""
    for line in lines:
        log.info("[ray %s] %s", sub_id, line)


class RayJobTrigger(BaseTrigger):
    """Streams a Ray job's log into the task log and fires when the job ends."""

    def __init__(self, address: str, submission_id: str, poll_interval: float = 2.0, conn_id: str = RAY_CONN) -> None:
        super().__init__()
        self.address = address
        self.submission_id = submission_id
        self.poll_interval = poll_interval
        self.conn_id = conn_id  # the token is read from it here, never stored with the trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "address": self.address,
                "submission_id": self.submission_id,
                "poll_interval": self.poll_interval,
                "conn_id": self.conn_id,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        token = await aray_token(self.conn_id)
        client = await asyncio.to_thread(submission.job_client, self.address, token)
        streamed = 0

        async def follow() -> None:
            nonlocal streamed
            try:
                async for chunk in client.tail_job_logs(self.submission_id):
                    lines = chunk.rstrip("\n").splitlines()
                    log_job_lines(self.log, self.submission_id, lines)
                    streamed += len(lines)
            except Exception as exc:  # log streaming is best effort; the status below decides
                self.log.warning("log stream of %s ended: %s", self.submission_id, exc)

        # The status decides when the job ended, not the log stream: Ray's agent closes the stream
        # seconds after the end (it polls the log file once a second, twice over), which every
        # task waiting on a job paid (3-4 s measured). The lines not streamed yet are read at once.
        follower = asyncio.create_task(follow())
        while True:
            status = await asyncio.to_thread(submission.job_status, client, self.submission_id)
            if status in submission.TERMINAL or status is None:
                break
            await asyncio.sleep(self.poll_interval)
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        if status is not None:
            with contextlib.suppress(Exception):  # the task's execute_complete reads the whole log again
                logs = await asyncio.to_thread(client.get_job_logs, self.submission_id)
                log_job_lines(self.log, self.submission_id, logs.splitlines()[streamed:])
        yield TriggerEvent({"submission_id": self.submission_id, "status": status})


class RayJobOperator(LinksMixin, BaseOperator):
    """Run ``entrypoint`` as a Ray job on the cluster of connection ``ray_conn_id``.

    The task waits for the job in its own process for up to ``defer_after`` seconds, then defers
    to the triggerer: a job shorter than that (an evaluation) ends without the deferral's round
    trip (the task process's exit, the trigger, the scheduler queueing the task again and a new
    task process: about 5 s measured on the local stack), a longer one (a training) holds its
    worker slot no longer than that.

    Args:
        entrypoint: the shell command of the job, e.g. ``python -m include.retrain.jobs.fanout``.
        env_vars: extra environment of the job (no secrets: they would show in the Ray dashboard).
        ray_conn_id: Airflow connection whose host is the Ray dashboard / Jobs API URL.
        defer_after: seconds to wait in the task before deferring (0: defer at once).
        links, link_repository: extra links of the task (see :mod:`.extra_links`).

    Returns (XCom): ``{"submission_id", "status", "action", "result"}`` where ``result`` is
    what the job printed with :func:`~include.retrain.jobs.submission.emit_result`.
    """

    template_fields: Sequence[str] = ("entrypoint", "env_vars")
    ui_color = "#d6e9ff"

    def __init__(
        self,
        *,
        entrypoint: str,
        env_vars: dict[str, str] | None = None,
        ray_conn_id: str = RAY_CONN,
        entrypoint_num_cpus: float | None = None,
        poll_interval: float = 1.0,
        defer_after: float = 30.0,
        links: tuple[str, ...] = (),
        link_repository: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_links(links, link_repository)
        self.entrypoint = entrypoint
        self.env_vars = env_vars or {}
        self.ray_conn_id = ray_conn_id
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.poll_interval = poll_interval
        self.defer_after = defer_after

    def execute(self, context: Context) -> Any:
        address = ray_address(self.ray_conn_id)
        ti = context["ti"]
        base = submission.submission_id(ti.dag_id, ti.run_id, ti.task_id, self.entrypoint)
        sub_id, earlier = submission.try_ids(base, ti.try_number)
        client = submission.job_client(address, ray_token(self.ray_conn_id))
        # A job an earlier try left running is this task's work: reattach. Otherwise run it again,
        # never reuse a finished one: a Clear means "do it again" (evaluate against today's champion).
        running = submission.running_job(client, earlier)
        if running:
            sub_id, action = running, "reattached"
        else:
            action = submission.submit_or_reattach(
                client,
                sub_id,
                self.entrypoint,
                submission.runtime_env(self.env_vars),
                metadata={"airflow.dag_id": ti.dag_id, "airflow.run_id": ti.run_id, "airflow.task_id": ti.task_id},
                entrypoint_num_cpus=self.entrypoint_num_cpus,
            )
        self.log.info("Ray job %s %s on %s (dashboard: %s/#/jobs/%s)", sub_id, action, address, address, sub_id)
        status = submission.wait_for_end(client, sub_id, self.defer_after)  # a short job ends in the task
        if status is not None:
            self.log.info("Ray job %s ended %s within %gs: no deferral", sub_id, status, self.defer_after)
            return self._linked(
                context, lambda: self._complete({"submission_id": sub_id, "status": status}, action, log_lines=True)
            )
        self.log.info("Ray job %s still running after %gs: deferring to the triggerer", sub_id, self.defer_after)
        self.defer(
            trigger=RayJobTrigger(address, sub_id, self.poll_interval, self.ray_conn_id),
            method_name="execute_complete",
            kwargs={"action": action},
        )

    def execute_complete(self, context: Context, event: dict[str, Any], action: str = "") -> RayJob[Any]:
        return self._linked(context, lambda: self._complete(event, action))

    def _complete(self, event: dict[str, Any], action: str, log_lines: bool = False) -> RayJob[Any]:
        """The job's result; ``log_lines``: its log goes to the task log here (no trigger streamed it)."""
        sub_id, status = event["submission_id"], event["status"]
        client = submission.job_client(ray_address(self.ray_conn_id), ray_token(self.ray_conn_id))
        logs = client.get_job_logs(sub_id)
        if log_lines:
            log_job_lines(self.log, sub_id, logs.splitlines())
        if status != "SUCCEEDED":
            tail = "\n".join(line for line in logs.splitlines()[-30:] if not line.startswith(submission.ERROR_PREFIX))
            error = submission.parse_error(logs)
            if error is not None and not error.retry:
                # the same data fails the same way: fail now, and alert, instead of retrying
                raise AirflowFailException(f"{error.message}\n(Ray job {sub_id} ended {status}; not retried)")
            head = error.message if error else f"Ray job {sub_id} ended {status}"
            raise AirflowException(f"{head}\nRay job {sub_id} ended {status}. Last lines of its log:\n{tail}")
        return {"submission_id": sub_id, "status": status, "action": action, "result": submission.parse_result(logs)}
