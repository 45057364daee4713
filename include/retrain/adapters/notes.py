"""Write the DAG-run note through Airflow's REST API (no Task SDK call exists for it)."""

from __future__ import annotations

import logging
from urllib.parse import quote

from airflow.sdk import BaseHook

log = logging.getLogger(__name__)
AIRFLOW_API_CONN = "airflow_api"


def set_dag_run_note(dag_id: str, run_id: str, note: str, conn_id: str = AIRFLOW_API_CONN) -> bool:
    """Best effort: a run summary must never fail the run. Returns whether the note was written.

    The connection holds the api-server's URL and a user allowed to edit DAG runs; its password
    buys a JWT (``POST /auth/token``) for the one ``PATCH``.
    """
    import requests

    try:
        conn = BaseHook.get_connection(conn_id)
        base = (conn.host or "").rstrip("/")
        login = requests.post(
            f"{base}/auth/token", json={"username": conn.login, "password": conn.password}, timeout=10
        )
        login.raise_for_status()
        resp = requests.patch(
            f"{base}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}",
            params={"update_mask": "note"},
            json={"note": note},
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            timeout=10,
        )
        resp.raise_for_status()
        return True
    except Exception as exc:  # best effort: any failure only costs the note
        log.warning("could not write the DAG-run note through connection %r: %s", conn_id, exc)
        return False
