"""The failure notifier of the retrain DAGs: the task log always, a webhook when configured.

Create the Airflow connection ``retrain_alerts`` (type http, host = the webhook URL, e.g. a
Slack or Teams incoming webhook or an alert manager) to also POST each alert as JSON.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier

from ..alerts import payload

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
        import requests

        resp = requests.post(conn.host or "", json=alert, timeout=10)
        log.info("alert sent to the %s webhook: HTTP %s", self.conn_id, resp.status_code)
