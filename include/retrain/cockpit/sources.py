"""Where the cockpit reads from: Airflow's REST API (as the signed-in user) and MLflow's REST API.

No database of our own: every figure comes from the runs Airflow keeps (the ``summarize`` result of
each night, the rollback runs, the open approvals) and from the MLflow registry. Each reader counts
its calls, so a page can say what it cost. Results of finished runs never change (a Clear makes the
run unfinished, and its next end time a new key), so they are cached in this process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from ..lake import lakefs_io

TIMEOUT = 10
FINISHED = ("success", "failed")


def _run_path(run: dict[str, Any]) -> str:
    return f"dags/{run['dag_id']}/dagRuns/{quote(run['dag_run_id'], safe='')}"


class SourceError(RuntimeError):
    """A service the cockpit reads from answered with an error; the message says which and why."""


class NotAllowed(SourceError):
    """Airflow refused the signed-in user (HTTP 403): the DAG is not theirs to see."""


@dataclass
class Calls:
    """How many requests a page made, by service (shown on the page and measured in bench/)."""

    airflow: int = 0
    mlflow: int = 0
    lakefs: int = 0
    cached: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str) -> None:
        with self._lock:  # the nights are read from several threads
            setattr(self, what, getattr(self, what) + 1)

    @property
    def total(self) -> int:
        return self.airflow + self.mlflow + self.lakefs


class FinishedCache:
    """Results of finished runs by an immutable key, least recently used out beyond ``size``."""

    def __init__(self, size: int = 4096) -> None:
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


CACHE = FinishedCache()


@dataclass
class AirflowReader:
    """Airflow's public REST API with the signed-in user's own token: the cockpit shows what that
    user may see, and nothing else."""

    base_url: str
    token: str = field(repr=False)  # never in a log line
    calls: Calls = field(default_factory=Calls)
    session: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, **params: Any) -> Any:
        self.calls.count("airflow")
        url = f"{self.base_url.rstrip('/')}/api/v2/{path}"
        try:
            resp = self.session.get(
                url, params=params, headers={"Authorization": f"Bearer {self.token}"}, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise SourceError(f"Airflow API at {self.base_url} unreachable: {exc}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code == 403:
            raise NotAllowed(f"Airflow does not let this user read {path.split('/dagRuns')[0]}")
        if not resp.ok:
            raise SourceError(f"Airflow API GET {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def runs(self, dag_id: str, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` runs of ``dag_id``, newest first by logical date."""
        body = self.get(f"dags/{dag_id}/dagRuns", limit=limit, order_by="-logical_date")
        return list((body or {}).get("dag_runs", []))

    def result(self, run: dict[str, Any], task_id: str) -> Any:
        """The return value of ``task_id`` in ``run``; cached once the run has finished."""
        key = ("xcom", run["dag_id"], run["dag_run_id"], task_id, run.get("end_date"))
        finished = run.get("state") in FINISHED
        if finished and (hit := CACHE.get(key)) is not None:
            self.calls.count("cached")
            return hit[0]
        path = f"{_run_path(run)}/taskInstances/{task_id}/xcomEntries/return_value"
        body = self.get(path, deserialize=True)
        value = body.get("value") if body else None
        if finished:
            CACHE.put(key, (value,))
        return value

    def links(self, run: dict[str, Any], task_id: str) -> dict[str, str]:
        """The extra links a task of a finished run recorded (cached)."""
        key = ("links", run["dag_id"], run["dag_run_id"], task_id, run.get("end_date"))
        if (hit := CACHE.get(key)) is not None:
            self.calls.count("cached")
            return dict(hit)
        path = f"{_run_path(run)}/taskInstances/{task_id}/links"
        links = {k: v for k, v in ((self.get(path) or {}).get("extra_links") or {}).items() if v}
        CACHE.put(key, tuple(links.items()))
        return links

    def failed_tasks(self, run: dict[str, Any]) -> list[str]:
        """The tasks that failed in a failed run (cached: the run is finished)."""
        key = ("failed", run["dag_id"], run["dag_run_id"], run.get("end_date"))
        if (hit := CACHE.get(key)) is not None:
            self.calls.count("cached")
            return list(hit)
        body = self.get(f"{_run_path(run)}/taskInstances", state=["failed"])
        failed = sorted(t["task_id"] for t in (body or {}).get("task_instances", []))
        CACHE.put(key, tuple(failed))
        return failed

    def open_approvals(self) -> list[dict[str, Any]]:
        """Every approval form that waits for a person, across the DAGs this user may see."""
        try:
            body = self.get("dags/~/dagRuns/~/hitlDetails", response_received="false", limit=100)
        except NotAllowed:
            return []  # a user who may not see required actions sees none waiting
        out = []
        for item in (body or {}).get("hitl_details", []):
            ti = item.get("task_instance") or {}
            if ti.get("state") in ("awaiting_input", "deferred"):
                out.append({"dag_id": ti.get("dag_id"), "run_id": ti.get("dag_run_id"), "subject": item.get("subject")})
        return out


@dataclass
class MlflowReader:
    """MLflow's REST API (registry aliases, run metrics) with the connection's user."""

    base_url: str
    username: str | None
    password: str | None = field(repr=False)  # never in a log line
    calls: Calls = field(default_factory=Calls)
    session: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, **params: Any) -> Any:
        """The JSON answer; None for "does not exist"; SourceError for every other error."""
        self.calls.count("mlflow")
        auth = (self.username, self.password or "") if self.username else None
        url = f"{self.base_url.rstrip('/')}/api/2.0/mlflow/{path}"
        try:
            resp = self.session.get(url, params=params, auth=auth, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise SourceError(f"MLflow at {self.base_url} unreachable: {exc}") from exc
        if resp.status_code == 404 or (resp.status_code == 400 and "RESOURCE_DOES_NOT_EXIST" in resp.text):
            return None
        if not resp.ok:
            raise SourceError(f"MLflow GET {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def alias(self, model: str, alias: str) -> dict[str, Any] | None:
        """The model version ``alias`` points at (with its tags and run id), or None."""
        try:
            body = self.get("registered-models/alias", name=model, alias=alias)
        except SourceError as exc:
            # MLflow's basic auth answers 403 for a model nobody registered yet: a search tells
            if "HTTP 403" not in str(exc) or self._registered(model):
                raise
            return None
        return (body or {}).get("model_version")

    def _registered(self, model: str) -> bool:
        body = self.get("registered-models/search", filter=f"name = '{model}'", max_results=1) or {}
        return bool(body.get("registered_models"))

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """A finished run's metrics (cached: a finished run's metrics do not change)."""
        key = ("mlflow-run", run_id)
        if (hit := CACHE.get(key)) is not None:
            self.calls.count("cached")
            return dict(hit)
        body = self.get("runs/get", run_id=run_id) or {}
        run = body.get("run") or {}
        metrics = {m["key"]: float(m["value"]) for m in (run.get("data") or {}).get("metrics", [])}
        if (run.get("info") or {}).get("status") == "FINISHED":
            CACHE.put(key, tuple(metrics.items()))
        return metrics


@dataclass
class LakeReader:
    """lakeFS, for what a failed night left: the validation report on its kept run branch."""

    endpoint: lakefs_io.LakeFSEndpoint
    calls: Calls = field(default_factory=Calls)

    def failed_report(self, repository: str, dag_id: str, run_id: str, end_date: str | None) -> dict[str, Any] | None:
        """The report of a run whose validation failed (None when its branch is gone)."""
        import json

        from lakefs.exceptions import NotFoundException

        key = ("report", repository, dag_id, run_id, end_date)
        if (hit := CACHE.get(key)) is not None:
            self.calls.count("cached")
            return hit[0]
        self.calls.count("lakefs")
        branch = lakefs_io.run_branch_name(dag_id, run_id)
        path = f"{lakefs_io.report_prefix(dag_id, run_id)}/validation.json"
        try:
            report = json.loads(lakefs_io.read_bytes(lakefs_io.client(self.endpoint), repository, branch, path))
        except NotFoundException:
            report = None  # the branch was deleted by a later, successful try
        except Exception as exc:
            raise SourceError(f"lakeFS: reading {repository}@{branch}/{path}: {exc}") from exc
        CACHE.put(key, (report,))
        return report


@dataclass
class Sources:
    """Everything a page reads, with one call count, and the UI bases its links point to."""

    airflow: AirflowReader
    mlflow: MlflowReader
    lake: LakeReader
    airflow_ui: str
    mlflow_ui: str

    @property
    def calls(self) -> Calls:
        return self.airflow.calls
