"""The cockpit's two pages, as data (the JSON API) and as HTML (Jinja2 + the charts).

``dataset_view`` is one dataset's newest nights with the champion's history; ``overview`` is every
dataset in one sortable table. The HTML embeds the charts as SVG and links one stylesheet served by
the plugin, so the pages need no network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import config, urls
from . import history
from .sources import CACHE, Calls, SourceError, Sources

TEMPLATES = Path(__file__).with_name("templates")
COLUMNS = [
    ("dataset", "dataset"),
    ("last", "last night"),
    ("champion", "champion"),
    ("since", "nights since promotion"),
    ("approvals", "open approvals"),
    ("drift", "drift alarms"),
]


def _approval_url(airflow_ui: str, dag_id: str, run_id: str) -> str:
    return f"{urls.airflow_run(airflow_ui, dag_id, run_id)}/tasks/approve/required_actions"


def _approvals(open_approvals: list[dict[str, Any]], dag_id: str, airflow_ui: str) -> list[dict[str, Any]]:
    return [
        {"run_id": a["run_id"], "url": _approval_url(airflow_ui, dag_id, a["run_id"])}
        for a in open_approvals
        if a["dag_id"] == dag_id
    ]


def dataset_view(ds: config.DatasetConfig, src: Sources, limit: int = history.NIGHTS) -> dict[str, Any]:
    """Everything one dataset's page shows, as plain data (also the JSON API's answer)."""
    airflow_ui = src.airflow_ui
    nights = history.nights(ds, src, limit)
    rolled = history.rollbacks(ds, src.airflow)
    champion = history.champion_now(ds, src.mlflow, ds.gate.metric)
    if champion:
        champion["url"] = urls.mlflow_model(src.mlflow_ui, ds.model_name, champion["version"])
    approvals = _approvals(src.airflow.open_approvals(), ds.dag_id, airflow_ui)
    for n in nights:  # a night whose gate waits for a person links to the form
        n["approval_url"] = next((a["url"] for a in approvals if a["run_id"] == n["run_id"]), None)
    threshold = next((float(n["drift"]["threshold"]) for n in reversed(nights) if n["drift"].get("threshold")), 0.2)
    return {
        "now": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
        "dataset": ds.name,
        "dag_id": ds.dag_id,
        "dag_url": f"{airflow_ui.rstrip('/')}/dags/{ds.dag_id}",
        "metric_name": ds.gate.metric,
        "floor": ds.gate.floor,
        "drift_threshold": threshold,
        "nights": nights,
        "rollbacks": rolled,
        "champion_history": history.champion_history(nights, rolled, champion["version"] if champion else None),
        "champion": champion,
        "since_promotion": history.nights_since_promotion(nights),
        "approvals": approvals,
    }


def _chart(name: str, make: Callable[..., str], *args: Any) -> str:
    """A chart's SVG, cached by the data it shows (a finished night's data never changes)."""
    key = ("chart", name, hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest())
    if (hit := CACHE.get(key)) is not None:
        return str(hit)
    svg = make(*args)
    CACHE.put(key, svg)
    return svg


def charts(view: dict[str, Any]) -> dict[str, str]:
    from . import charts as c  # Matplotlib: imported when a page is first drawn, not by the plugin

    nights = view["nights"]
    return {
        "files": _chart("files", c.files, nights),
        "drift": _chart("drift", c.drift, nights, view["drift_threshold"]),
        "metric": _chart("metric", c.metric, nights, view["metric_name"], view["floor"]),
        "champion": _chart("champion", c.champion, view["champion_history"], view["now"]),
        "cost": _chart("cost", c.cost, nights),
    }


def overview(datasets: list[config.DatasetConfig], src: Sources, limit: int = history.NIGHTS) -> dict[str, Any]:
    """One row per dataset the user may see; datasets whose runs cannot be read are listed apart."""
    waiting = src.airflow.open_approvals()
    rows, errors = [], {}
    for ds in datasets:
        try:
            nights = history.nights(ds, src, limit)
            champion = history.champion_now(ds, src.mlflow, ds.gate.metric)
        except SourceError as exc:
            errors[ds.name] = str(exc)
            continue
        last = nights[-1] if nights else None
        drift = (last or {}).get("drift") or {}
        rows.append(
            {
                "dataset": ds.name,
                "modality": ds.modality,
                "dag_id": ds.dag_id,
                "last": last,
                "champion": champion,
                "since_promotion": history.nights_since_promotion(nights),
                "approvals": _approvals(waiting, ds.dag_id, src.airflow_ui),
                "drift": drift.get("drifted") if drift.get("detected") else [],
                "drift_threshold": drift.get("threshold"),
            }
        )
    return {"rows": rows, "errors": errors, "limit": limit}


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Sort the overview by a column; rows without a value go last either way."""

    def value(row: dict[str, Any]) -> Any:
        return {
            "dataset": row["dataset"],
            "last": (row["last"] or {}).get("date"),
            "champion": (row["champion"] or {}).get("metric"),
            "since": row["since_promotion"],
            "approvals": len(row["approvals"]),
            "drift": len(row["drift"]),
        }.get(key, row["dataset"])

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    return sorted(present, key=value, reverse=descending) + missing


def render(template: str, **context: Any) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return env.get_template(template).render(**context)


def stylesheet() -> str:
    return (TEMPLATES / "cockpit.css").read_text()


def timed(calls: Calls, started: float) -> dict[str, Any]:
    """What the header says the page cost."""
    return {"calls": calls, "seconds": time.perf_counter() - started}
