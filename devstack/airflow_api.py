"""A small client of the Airflow 3 public REST API (token auth of SimpleAuthManager)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests


class AirflowAPIError(RuntimeError):
    pass


class AirflowAPI:
    def __init__(
        self, base_url: str, username: str, password: str, timeout: float = 30, on_sqlite: bool = False
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.on_sqlite = on_sqlite  # Airflow's metadata database: backfill creation needs care there
        self._auth = (username, password)
        self._timeout = timeout
        self._session = requests.Session()
        self._token: str | None = None

    def _login(self) -> None:
        resp = self._session.post(
            f"{self.base_url}/auth/token",
            json={"username": self._auth[0], "password": self._auth[1]},
            timeout=self._timeout,
        )
        if resp.status_code not in (200, 201):
            raise AirflowAPIError(f"Airflow login as {self._auth[0]!r} failed: {resp.status_code} {resp.text[:200]}")
        self._token = resp.json()["access_token"]
        self._session.headers["Authorization"] = f"Bearer {self._token}"

    def token(self) -> str:
        """A JWT of the stack's admin (``Authorization: Bearer``), for calls outside ``/api/v2``."""
        if self._token is None:
            self._login()
        return str(self._token)

    def request(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kw: Any) -> requests.Response:
        if self._token is None:
            self._login()
        url = f"{self.base_url}/api/v2/{path.lstrip('/')}"
        resp = self._session.request(method, url, timeout=self._timeout, **kw)
        if resp.status_code == 401:
            self._login()
            resp = self._session.request(method, url, timeout=self._timeout, **kw)
        if resp.status_code not in ok:
            raise AirflowAPIError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp

    # -- settings -----------------------------------------------------------------
    def upsert(self, collection: str, key: str, body: dict[str, Any]) -> str:
        """Create ``body`` in ``collection`` (connections, pools, variables) or update it."""
        resp = self.request("POST", collection, ok=(200, 201, 409), json=body)
        if resp.status_code == 409:
            self.request("PATCH", f"{collection}/{body[key]}", json=body)
            return "updated"
        return "created"

    # -- DAGs and runs ------------------------------------------------------------------
    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            resp = self.request("GET", f"dags/{dag_id}", ok=(200, 404))
            if resp.status_code == 200:
                return resp.json()
            if time.monotonic() > deadline:
                errors = self.request("GET", "importErrors").json().get("import_errors", [])
                detail = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors) or "none"
                raise AirflowAPIError(f"DAG {dag_id} was not parsed within {timeout:.0f}s (import errors: {detail})")
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.request("PATCH", f"dags/{dag_id}", json={"is_paused": True})

    def wait_for_backfill(self, backfill_id: int, timeout: float = 600) -> dict[str, Any]:
        """The backfill once the scheduler marks it completed (some seconds after its last run ends;
        until then Airflow refuses a new backfill of the DAG with 409)."""
        deadline = time.monotonic() + timeout
        while True:
            backfill = self.request("GET", f"backfills/{backfill_id}").json()
            if backfill.get("completed_at"):
                return backfill
            if time.monotonic() > deadline:
                raise AirflowAPIError(f"backfill {backfill_id} not completed within {timeout:.0f}s: {backfill}")
            time.sleep(1)

    def trigger(
        self, dag_id: str, logical_date: str | None, conf: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"dags/{dag_id}/dagRuns", json=body).json()

    def run_at(self, dag_id: str, logical_date: str) -> dict[str, Any] | None:
        """The DAG run with this exact logical date, if one exists (Airflow keeps them unique)."""
        params = {"logical_date_gte": logical_date, "logical_date_lte": logical_date}
        runs = self.request("GET", f"dags/{dag_id}/dagRuns", params=params).json()["dag_runs"]
        return runs[0] if runs else None

    def clear_run(self, dag_id: str, run_id: str) -> None:
        """Clear every task of a run so the scheduler runs it again (the UI's "Clear")."""
        self.request("POST", f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/clear", json={"dry_run": False})

    def backfill(
        self,
        dag_id: str,
        from_date: str,
        to_date: str,
        max_active_runs: int,
        conf: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Create a backfill (the UI's "Backfill"), or with ``dry_run`` list the logical dates it would run."""
        body = {
            "dag_id": dag_id,
            "from_date": from_date,
            "to_date": to_date,  # inclusive
            "max_active_runs": max_active_runs,
            "reprocess_behavior": "none",
            "dag_run_conf": conf or {},
        }
        if dry_run:
            return self.request("POST", "backfills/dry_run", json=body).json()
        if not self.on_sqlite:  # PostgreSQL: as a user would, with the DAG as it is
            return self.request("POST", "backfills", json=body).json()
        # Airflow 3.3 creates a backfill's runs one by one and, on SQLite, deletes them again when the
        # database is busy (503 "Database is locked"). A scheduler that already picked such a run up
        # dies on it (ObjectDeletedError). So the DAG is paused while the runs are created: a paused
        # DAG's runs are left alone; it is unpaused once the backfill exists.
        was_paused = bool(self.request("GET", f"dags/{dag_id}").json()["is_paused"])
        if not was_paused:
            self.request("PATCH", f"dags/{dag_id}", json={"is_paused": True})
        try:
            for attempt in range(6):  # the 503 is transient: try again
                resp = self.request("POST", "backfills", json=body, ok=(200, 503))
                if resp.status_code == 200:
                    return resp.json()
                time.sleep(2 * (attempt + 1))
            raise AirflowAPIError(f"POST backfills: {resp.status_code} {resp.text[:300]}")
        finally:
            if not was_paused:
                self.unpause(dag_id)

    def runs(self, dag_id: str, run_type: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100, "order_by": "logical_date"}
        if run_type:
            params["run_type"] = run_type
        return self.request("GET", f"dags/{dag_id}/dagRuns", params=params).json()["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.request("GET", f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise AirflowAPIError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f}s")
            time.sleep(0.5)  # fine-grained: run durations are measured with it (bench/)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self.request("GET", path).json()["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", path, params={"deserialize": "true"}).json()["value"]

    def links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        """The task instance's extra links, name -> URL (None where the task recorded none)."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links"
        return self.request("GET", path).json()["extra_links"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task try's log as plain lines (the API serves structured JSON entries)."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        resp = self.request("GET", path, ok=(200, 404), params={"full_content": "true"})
        if resp.status_code == 404:
            return "(no log)"
        lines = []
        for entry in resp.json().get("content", []):
            if isinstance(entry, dict):
                text = str(entry.get("event", ""))
                if entry.get("error_detail"):
                    for err in entry["error_detail"]:
                        text += f"\n{err.get('exc_type')}: {err.get('exc_value')}"
                lines.append(text)
            else:
                lines.append(str(entry))
        return "\n".join(lines)
