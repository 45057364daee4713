"""Airflow connections -> plain endpoint objects for the logic modules."""

from __future__ import annotations

import os

from airflow.sdk import BaseHook

from ..jobs.submission import RayEndpoint
from ..lake.lakefs_io import LakeFSEndpoint

LAKEFS_CONN = "lakefs_default"
MLFLOW_CONN = "mlflow_default"
RAY_CONN = "ray_default"
LANDING_CONN = "aws_landing"


def _url(conn_id: str) -> str:
    conn = BaseHook.get_connection(conn_id)
    host = (conn.host or "").rstrip("/")
    if not host:
        raise ValueError(
            f"Airflow connection {conn_id!r} has no host; set it to the service URL, e.g. http://127.0.0.1:8000"
        )
    if "://" not in host:
        host = f"http://{host}" + (f":{conn.port}" if conn.port else "")
    return host


def service_url(conn_id: str) -> str:
    """The service's URL from the connection's host (and port when the host has no scheme)."""
    return _url(conn_id)


def lakefs_endpoint(conn_id: str = LAKEFS_CONN) -> LakeFSEndpoint:
    conn = BaseHook.get_connection(conn_id)
    return LakeFSEndpoint(url=_url(conn_id), access_key_id=conn.login or "", secret_access_key=conn.password or "")


def ray_address(conn_id: str = RAY_CONN) -> str:
    return _url(conn_id)


def ray_token(conn_id: str = RAY_CONN) -> str | None:
    """The Ray cluster's auth token: the connection's password (None for a cluster without auth)."""
    return BaseHook.get_connection(conn_id).password or None


def ray_endpoint(conn_id: str = RAY_CONN) -> RayEndpoint:
    """The Jobs API's address and token, for a step that submits a job itself."""
    return RayEndpoint(ray_address(conn_id), ray_token(conn_id))


async def aray_token(conn_id: str = RAY_CONN) -> str | None:
    """:func:`ray_token` for the triggerer's event loop."""
    return (await BaseHook.aget_connection(conn_id)).password or None


def mlflow_url(conn_id: str = MLFLOW_CONN) -> str:
    """MLflow's tracking URL; the connection's user goes into this process's environment.

    The MLflow client takes basic-auth credentials only from ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD``; a task runs in a process of its own, so they stay its own.
    """
    conn = BaseHook.get_connection(conn_id)
    if conn.login:
        os.environ["MLFLOW_TRACKING_USERNAME"] = conn.login
        os.environ["MLFLOW_TRACKING_PASSWORD"] = conn.password or ""
    return _url(conn_id)


def ui_url(conn_id: str) -> str:
    """Where a browser reaches the service: the connection's extra ``ui_url``, else its host.

    Differs from the host when Airflow reaches the service by an internal name (compose:
    http://lakefs:8000) and people through another (http://localhost:8000, an ingress)."""
    extra = BaseHook.get_connection(conn_id).extra_dejson
    return str(extra.get("ui_url") or _url(conn_id)).rstrip("/")
