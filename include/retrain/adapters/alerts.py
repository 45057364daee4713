"""Alerts of the retrain DAGs: what a person on call needs to act, in one small JSON document.

* :class:`RetrainFailureNotifier`: a task failed (in the task log).
* :func:`deadline_missed`: a run was still going at its DAG's deadline (``deadline_minutes``
  of the dataset); Airflow's DeadlineAlert runs it in the triggerer (in the triggerer log).

Every alert is a ``RETRAIN ALERT`` / ``RETRAIN DEADLINE ALERT`` log line. Create the Airflow
connection ``retrain_alerts`` (type http, host = the webhook URL, e.g. a Slack or Teams incoming
webhook or an alert manager) to also POST it as JSON through the http provider's ``HttpNotifier``,
and ``retrain_alerts_smtp`` (type smtp; extra ``{"from_email": ..., "to": "a@x, b@y"}``) to also
mail each failure through the smtp provider's ``SmtpNotifier``. A channel that fails (a webhook
answering 500, a mail server down) is a warning in the log and never stops the other channels.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier

from .. import urls
from .airflow_rest import set_dag_run_note

log = logging.getLogger(__name__)
ALERT_CONN = "retrain_alerts"
MAIL_CONN = "retrain_alerts_smtp"


def payload(
    dataset: str, dag_id: str, run_id: str, task_id: str, try_number: int, reason: str, airflow_url: str
) -> dict[str, Any]:
    """A failed task: what failed, why, and where to look."""
    link = f"{urls.airflow_run(airflow_url, dag_id, run_id)}/tasks/{task_id}"
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


def failure_note(alert: dict[str, Any]) -> str:
    """The DAG-run note of a failed run (the summary task does not run then): the error, the link."""
    error = alert["reason"].strip().splitlines()[0] if alert["reason"].strip() else "unknown error"
    return (
        f"**Failed** at `{alert['task_id']}` (try {alert['try_number']}): {error[:500]}\n\n[Task log]({alert['link']})"
    )


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
        "link": urls.airflow_run(airflow_url, dag_id, run_id),
    }


def _connection(conn_id: str) -> Any | None:
    try:
        return BaseHook.get_connection(conn_id)
    except Exception:  # not configured: that channel is off
        return None


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
        set_dag_run_note(ti.dag_id, ti.run_id, failure_note(alert))
        if _connection(self.conn_id) is not None:
            _post(self.conn_id, alert, context)
        mail = _connection(self.mail_conn_id)
        if mail is not None:
            _mail(mail, alert, context)


def _post(conn_id: str, alert: dict[str, Any], context: Any) -> None:
    """POST the alert through the http provider; a failure is logged, never raised."""
    from airflow.providers.http.notifications.http import HttpNotifier

    try:
        HttpNotifier(http_conn_id=conn_id, json=alert).notify(context)
    except Exception as exc:  # a dead or failing webhook must not stop the other channels
        log.warning("alert NOT delivered to the %s webhook: %s", conn_id, exc)
        return
    log.info("alert sent to the %s webhook", conn_id)


def _mail(conn: Any, alert: dict[str, Any], context: Any) -> None:
    """Mail the alert through the smtp provider; recipients in the connection's extra ``to``."""
    from html import escape

    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    to = conn.extra_dejson.get("to")
    if not to:
        log.warning("connection %s has no 'to' in its extra: no mail sent", conn.conn_id)
        return
    body = f'<p>{escape(alert["summary"])}</p><p><a href="{escape(alert["link"])}">{escape(alert["link"])}</a></p>'
    body += f"<pre>{escape(json.dumps(alert, indent=2))}</pre>"
    mail = SmtpNotifier(
        to=to,
        from_email=conn.extra_dejson.get("from_email"),
        subject=f"[retrain] {alert['summary'][:150]}",
        html_content=body,
        smtp_conn_id=conn.conn_id,
    )
    try:
        mail.notify(context)  # not through __call__: the alert text must not be rendered as Jinja
    except Exception as exc:
        log.warning("alert NOT mailed through %s: %s", conn.conn_id, exc)
        return
    log.info("alert mailed to %s through %s", to, conn.conn_id)


async def deadline_missed(
    context: dict[str, Any], dataset: str, limit_minutes: float, conn_id: str = ALERT_CONN
) -> None:
    """The DeadlineAlert callback (an AsyncCallback: it runs in the triggerer)."""
    from airflow.providers.http.notifications.http import HttpNotifier
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
        await BaseHook.aget_connection(conn_id)
    except Exception:  # no webhook configured: the log line above is the alert
        return
    try:
        await HttpNotifier(http_conn_id=conn_id, json=alert).async_notify(context)  # type: ignore[arg-type]
    except Exception as exc:
        log.warning("deadline alert NOT delivered to the %s webhook: %s", conn_id, exc)
        return
    log.info("deadline alert sent to the %s webhook", conn_id)
