"""Alerts of the retrain DAGs: a log line always, a webhook when configured.

* :class:`RetrainFailureNotifier`: a task failed (in the task log).
* :func:`deadline_missed`: a run was still going at its DAG's deadline (``deadline_minutes``
  of the dataset); Airflow's DeadlineAlert runs it in the triggerer (in the triggerer log).

Create the Airflow connection ``retrain_alerts`` (type http, host = the webhook URL, e.g. a
Slack or Teams incoming webhook or an alert manager) to also POST each alert as JSON, and
``retrain_alerts_smtp`` (type smtp; extra ``{"from_email": ..., "to": "a@x, b@y"}``) to also mail
each failure through the SMTP provider.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier

from ..alerts import deadline_payload, payload

log = logging.getLogger(__name__)
ALERT_CONN = "retrain_alerts"
MAIL_CONN = "retrain_alerts_smtp"


class RetrainFailureNotifier(BaseNotifier):
    """Alert with the dataset, run, failing task, reason and a link to the task."""

    def __init__(self, dataset: str, conn_id: str = ALERT_CONN, mail_conn_id: str = MAIL_CONN) -> None:
        super().__init__()
        self.dataset = dataset
        self.conn_id = conn_id
        self.mail_conn_id = mail_conn_id

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
        except Exception:  # no webhook configured
            conn = None
        if conn is not None:
            _post(conn.host or "", alert, self.conn_id)
        try:
            mail = BaseHook.get_connection(self.mail_conn_id)
        except Exception:  # no mail configured: the log line (and the webhook) are the alert
            return
        _mail(mail, alert)


def _mail(conn: Any, alert: dict[str, Any]) -> None:
    """Send the alert through the SMTP provider; recipients in the connection's extra ``to``."""
    from html import escape

    from airflow.providers.smtp.hooks.smtp import SmtpHook

    to = conn.extra_dejson.get("to")
    if not to:
        log.warning("connection %s has no 'to' in its extra: no mail sent", conn.conn_id)
        return
    body = f'<p>{escape(alert["summary"])}</p><p><a href="{escape(alert["link"])}">{escape(alert["link"])}</a></p>'
    body += f"<pre>{escape(json.dumps(alert, indent=2))}</pre>"
    with SmtpHook(smtp_conn_id=conn.conn_id) as hook:
        hook.send_email_smtp(to=to, subject=f"[retrain] {alert['summary'][:150]}", html_content=body)
    log.info("alert mailed to %s through %s", to, conn.conn_id)


def _post(url: str, alert: dict[str, Any], conn_id: str) -> None:
    """POST the alert; a dead webhook is logged, so it never stops the other channels."""
    import requests

    try:
        resp = requests.post(url, json=alert, timeout=10)
    except requests.RequestException as exc:
        log.error("alert NOT delivered to the %s webhook: %s", conn_id, exc)
        return
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
