"""The "Retraining" cockpit: a FastAPI app the project's plugin mounts on Airflow's api-server.

Behind Airflow's own login: every route needs the signed-in user's token (the UI's ``_token``
cookie, or ``Authorization: Bearer`` for scripts), and the cockpit reads Airflow's REST API *with
that token*, so a user sees the DAGs Airflow lets them see. Unauthenticated requests get 401.

Routes (under ``/retraining``): ``/`` the overview, ``/datasets/<name>`` one dataset's nights,
``/api/overview`` and ``/api/datasets/<name>`` the same as JSON, ``/static/cockpit.css``.
Heavy imports (Airflow's auth manager, Matplotlib) happen on the first request, not when a process
loads the plugin.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .. import config, urls
from ..cockpit import history, pages
from ..cockpit.sources import AirflowReader, Calls, LakeReader, MlflowReader, NotAllowed, SourceError, Sources
from . import airflow_rest
from .airflow_rest import AIRFLOW_API_CONN
from .connections import MLFLOW_CONN, lakefs_endpoint, service_url, ui_url

log = logging.getLogger(__name__)
URL_PREFIX = urls.COCKPIT
COOKIE = "_token"  # Airflow's UI session cookie (airflow.api_fastapi.auth.managers.base_auth_manager)

app = FastAPI(title="Retraining cockpit", description=__doc__)


def warm_up() -> None:
    """Import what the first request would (Airflow's auth module, Matplotlib), then read every
    dataset's finished nights into the cache, as the ``airflow_api`` connection's user: a person's
    first look does not wait for them. (A person still sees only the runs Airflow lists for them.)
    Best effort: any failure is logged and the pages read on demand."""
    from airflow.api_fastapi.core_api import security  # noqa: F401

    from ..cockpit import charts

    charts.warm_up()
    try:
        base, headers = airflow_rest.session(AIRFLOW_API_CONN, wait_seconds=120)  # the server is starting
        token = headers["Authorization"].removeprefix("Bearer ")
        src = _sources(base, token)
        datasets = config.load().datasets
        for ds in datasets:
            pages.charts(pages.dataset_view(ds, src))
        log.info("Retraining cockpit: the nights of %d datasets read ahead (%s)", len(datasets), src.calls)
    except Exception as exc:  # the cockpit works without it, only slower on a first look
        log.warning("Retraining cockpit: could not read the nights ahead: %s", exc)


async def signed_in(request: Request) -> str:
    """The caller's Airflow token, once Airflow's auth manager has accepted it (else 401/403)."""
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
    await resolve_user_from_token(token)  # raises HTTPException 401 (none, expired) or 403 (invalid)
    return str(token)


Token = Annotated[str, Depends(signed_in)]


def _sources(airflow_ui: str, token: str) -> Sources:
    """Airflow read with ``token`` (the signed-in user's); MLflow and lakeFS with the connections' users."""
    from airflow.sdk import BaseHook

    calls = Calls()
    api, mlflow = BaseHook.get_connection(AIRFLOW_API_CONN), BaseHook.get_connection(MLFLOW_CONN)
    return Sources(
        airflow=AirflowReader((api.host or airflow_ui).rstrip("/"), token, calls),
        mlflow=MlflowReader(service_url(MLFLOW_CONN), mlflow.login, mlflow.password, calls),
        lake=LakeReader(lakefs_endpoint(), calls),
        airflow_ui=airflow_ui,
        mlflow_ui=ui_url(MLFLOW_CONN),
    )


def _airflow_ui(request: Request) -> str:
    """Where the browser reaches Airflow: the links of the page start there."""
    return str(request.base_url).rstrip("/")


def _dataset_view(request: Request, token: str, name: str, nights: int) -> tuple[config.DatasetConfig, Sources, Any]:
    ds, src = _dataset(name), _sources(_airflow_ui(request), token)
    try:
        return ds, src, pages.dataset_view(ds, src, nights)
    except SourceError as exc:
        raise _unavailable(exc) from exc


def _overview(request: Request, token: str, nights: int) -> tuple[Sources, Any]:
    src = _sources(_airflow_ui(request), token)
    try:
        return src, pages.overview(config.load().datasets, src, nights)
    except SourceError as exc:
        raise _unavailable(exc) from exc


def _dataset(name: str) -> config.DatasetConfig:
    try:
        return config.get(name)
    except config.ConfigError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


def _unavailable(exc: SourceError) -> HTTPException:
    if isinstance(exc, NotAllowed):
        return HTTPException(status_code=403, detail=str(exc))
    return HTTPException(status_code=502, detail=f"the cockpit could not read its sources: {exc}")


@app.get("/static/cockpit.css", include_in_schema=False)
def stylesheet() -> Response:
    return Response(pages.stylesheet(), media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@app.get("/api/datasets/{name}")
def dataset_api(name: str, request: Request, token: Token, nights: int = Query(history.NIGHTS, ge=1, le=365)) -> Any:
    """One dataset's newest nights, champion history and open approvals, as JSON."""
    started = time.perf_counter()
    _, src, view = _dataset_view(request, token, name, nights)
    return JSONResponse(view, headers=_cost_headers(src.calls, started))


@app.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(name: str, request: Request, token: Token, nights: int = Query(history.NIGHTS, ge=1, le=365)) -> Any:
    """One dataset's page: the charts and the timeline of its newest nights."""
    started = time.perf_counter()
    ds, src, view = _dataset_view(request, token, name, nights)
    drawn = pages.charts(view)
    html = pages.render("dataset.html", root=URL_PREFIX, ds=ds, charts=drawn, **view, **pages.timed(src.calls, started))
    return HTMLResponse(html, headers=_cost_headers(src.calls, started))


@app.get("/api/overview")
def overview_api(request: Request, token: Token, nights: int = Query(history.NIGHTS, ge=1, le=365)) -> Any:
    """Every dataset in one table, as JSON."""
    started = time.perf_counter()
    src, view = _overview(request, token, nights)
    return JSONResponse(view, headers=_cost_headers(src.calls, started))


@app.get("/", response_class=HTMLResponse)
def overview_page(
    request: Request,
    token: Token,
    sort: str = Query("dataset"),
    desc: bool = Query(False),
    nights: int = Query(history.NIGHTS, ge=1, le=365),
) -> Any:
    """Every dataset: last night, champion, nights since promotion, open approvals, drift alarms."""
    started = time.perf_counter()
    src, view = _overview(request, token, nights)
    rows = pages.sort_rows(view["rows"], sort, desc)
    html = pages.render(
        "overview.html",
        root=URL_PREFIX,
        columns=pages.COLUMNS,
        sort=sort,
        descending=desc,
        rows=rows,
        errors=view["errors"],
        limit=view["limit"],
        **pages.timed(src.calls, started),
    )
    return HTMLResponse(html, headers=_cost_headers(src.calls, started))


def _cost_headers(calls: Calls, started: float) -> dict[str, str]:
    """What the request cost, for bench/cockpit.py: API calls made, served from cache, and time."""
    return {
        "X-Retraining-API-Calls": (
            f"airflow={calls.airflow}, mlflow={calls.mlflow}, lakefs={calls.lakefs}, cached={calls.cached}"
        ),
        "Server-Timing": f"total;dur={(time.perf_counter() - started) * 1000:.1f}",
    }
