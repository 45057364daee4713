"""Alerts of the retrain DAGs: a log line always, a webhook when configured.

* :class:`RetrainFailureNotifier`: a task failed (in the task log).
* :func:`deadline_missed`: a run was still going at its DAG's deadline (``deadline_minutes``
  of the dataset); Airflow's DeadlineAlert runs it in the triggerer (in the triggerer log).

Create the Airflow connection ``retrain_alerts`` (type http, host = the webhook URL, e.g. a
Slack or Teams incoming webhook or an alert manager) to also POST each alert as JSON.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier

from ..alerts import deadline_payload, payload

log = logging.getLogger(__name__)
ALERT_CONN = "retrain_alerts"


class RetrainFailureNotifier(BaseNotifier):
    """Alert with the dataset, run, failing task, reason and a link to the task."""

    def __init__(self, dataset: str, conn_id: str = ALERT_CONN) -> None:
        super().__init__()
        self.dataset = dataset
        self.conn_id = conn_id

    def notify(self, context: Any) -> None:
        from airflow.sdk import conf

        ti, exc = context["ti"], context.get("exception")
        alert = payload(
            self.dataset,
            ti.dag_id,
            ti.run_id,
            ti.task_id,
            ti.try_number,
            f"{type(exc).__name__}: {exc}" if exc else "unknown",
            conf.get("api", "base_url"),
        )
        log.error("RETRAIN ALERT %s", json.dumps(alert))
        try:
            conn = BaseHook.get_connection(self.conn_id)
        except Exception:  # no webhook configured: the log line above is the alert
            return
        _post(conn.host or "", alert, self.conn_id)


def _post(url: str, alert: dict[str, Any], conn_id: str) -> None:
    import requests

    resp = requests.post(url, json=alert, timeout=10)
    log.info("alert sent to the %s webhook: HTTP %s", conn_id, resp.status_code)


async def deadline_missed(
    context: dict[str, Any], dataset: str, limit_minutes: float, conn_id: str = ALERT_CONN
) -> None:
    """The DeadlineAlert callback (an AsyncCallback: it runs in the triggerer)."""
    import asyncio

    from airflow.sdk import conf

    run = context.get("dag_run") or {}
    alert = deadline_payload(
        dataset,
        str(run.get("dag_id", "")),
        str(run.get("dag_run_id") or run.get("run_id") or ""),
        limit_minutes,
        str((context.get("deadline") or {}).get("deadline_time", "")),
        str(run.get("state", "")),
        conf.get("api", "base_url"),
    )
    log.error("RETRAIN DEADLINE ALERT %s", json.dumps(alert))
    try:
        conn = await BaseHook.aget_connection(conn_id)
    except Exception:  # no webhook configured: the log line above is the alert
        return
    await asyncio.to_thread(_post, conn.host or "", alert, conn_id)
