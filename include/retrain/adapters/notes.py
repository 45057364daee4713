"""Write the DAG-run note through the REST API (no Task SDK call exists for it)."""

from __future__ import annotations

import logging
from urllib.parse import quote

from airflow.sdk import BaseHook

from ..airflow_rest import AirflowAPI

log = logging.getLogger(__name__)
AIRFLOW_API_CONN = "airflow_api"


def set_dag_run_note(dag_id: str, run_id: str, note: str, conn_id: str = AIRFLOW_API_CONN) -> bool:
    """Best effort: a run summary must never fail the run. Returns whether the note was written."""
    try:
        conn = BaseHook.get_connection(conn_id)
        api = AirflowAPI(conn.host or "", conn.login or "", conn.password or "", timeout=10)
        api.request(
            "PATCH",
            f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}",
            params={"update_mask": "note"},
            json={"note": note},
        )
        return True
    except Exception as exc:  # best effort: any failure only costs the note
        log.warning("could not write the DAG-run note through connection %r: %s", conn_id, exc)
        return False
