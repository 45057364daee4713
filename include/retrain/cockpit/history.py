"""A dataset's nights as the cockpit shows them: one plain dict per night, built from the run's
``summarize`` result (the same record as the DAG-run note), plus the champion's history.

Everything here is a pure function of what :mod:`.sources` read, so it is tested without services.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import urls
from ..config import DatasetConfig
from ..release.registry import CHAMPION
from .sources import AirflowReader, MlflowReader, Sources

NIGHTS = 30  # nights a dataset page shows by default
ROLLBACK_DAG = "rollback_model"
VALIDATE = "validate"  # the task whose failure leaves a validation report on the run branch
PARALLEL = 8  # concurrent reads of the nights' results (the first, uncached page of a dataset)


def _training(summary: dict[str, Any]) -> tuple[str, str]:
    """(state, words): ``trained``, ``skipped`` or ``none`` (the run ended before deciding)."""
    t = summary.get("training") or {}
    if t.get("skipped"):
        return "skipped", f"skipped: {t.get('reason')}"
    if t:
        return "trained", f"{t.get('trials')} trials ({t.get('trial_errors') or 0} errors)"
    return "none", "not decided"


def _decision(gate: dict[str, Any]) -> tuple[str, str]:
    """(outcome, words): promote / reject / approved / refused / timeout, and who decided."""
    decided_by = str(gate.get("decided_by") or "gate")
    decision = str(gate.get("decision") or "")
    if decided_by.startswith("timeout"):
        return "timeout", "inconclusive -> no answer: the champion stays"
    if decided_by.endswith("in the Airflow UI"):
        who = decided_by.removesuffix(" in the Airflow UI")
        return (
            ("approved", f"inconclusive -> approved by {who}")
            if decision == "promote"
            else (
                "refused",
                f"inconclusive -> refused by {who}",
            )
        )
    if decided_by == "force_promote":
        return "forced", "forced promotion (override)"
    return decision, decision


def from_report(report: dict[str, Any]) -> dict[str, Any]:
    """A failed validation's report (lakeFS) in the shape of a summary's ``validation``."""
    files = report.get("files") or []
    return {
        "passed": report.get("passed"),
        "files_total": report.get("files_total", len(files)),
        "files_bad": report.get("files_bad"),
        "rows_in": sum(f.get("rows", 0) for f in files if f.get("ok")),
        "rows_refused": sum(f.get("rows", 0) for f in files if not f.get("ok")),
        "refused": [{"path": f["path"], "reasons": f.get("reasons", [])[:3]} for f in files if not f.get("ok")],
        "batch_warnings": report.get("batch_reasons") or [],
    }


def night(
    run: dict[str, Any],
    summary: dict[str, Any] | None,
    failed: list[str],
    airflow_ui: str,
    report: dict[str, Any] | None = None,
    task_links: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One night of the timeline: what came in, what was refused and why, training, gate, cost, links.

    A failed night has no summary: its failed tasks, the links they recorded and, when validation
    failed, the validation report kept on its run branch stand in.
    """
    s = summary or {}
    v = s.get("validation") or (from_report(report) if report else {})
    gate = s.get("gate") or {}
    evidence = gate.get("evidence") or {}
    champion = next((c for c in evidence.get("against", []) if c.get("role") == "champion"), None)
    model = s.get("model") or {}
    training_state, training_words = _training(s)
    outcome, outcome_words = _decision(gate) if gate else ("", "")
    cost = s.get("cost") or {}
    links = {"Airflow run": urls.airflow_run(airflow_ui, run["dag_id"], run["dag_run_id"]), **(task_links or {})}
    links |= s.get("links") or {}
    if s.get("repository") and v.get("report") not in (None, "none") and s.get("commit"):
        links.setdefault(
            urls.VALIDATION_REPORT, urls.lakefs_object(_lakefs_ui(links), s["repository"], s["commit"], v["report"])
        )
    return {
        "run_id": run["dag_run_id"],
        "date": str(s.get("date") or (run.get("logical_date") or run.get("run_after") or "")[:10]),
        "state": run.get("state"),
        "run_type": run.get("run_type"),
        "started": run.get("start_date"),
        "ended": run.get("end_date"),
        "failed_tasks": failed,
        "commit": s.get("commit"),
        "new_data": s.get("new_data"),
        "files_in": v.get("files_total"),
        "files_bad": v.get("files_bad"),
        "rows_in": v.get("rows_in"),
        "rows_refused": v.get("rows_refused"),
        "quarantined": len(v.get("quarantined") or []),
        "refused": v.get("refused") or [{"path": p, "reasons": []} for p in v.get("quarantined") or []],
        "warnings": v.get("batch_warnings") or [],
        "drift": s.get("drift") or {},
        "training": training_state,
        "training_words": training_words,
        "metric": evidence.get("candidate"),
        "metric_name": evidence.get("metric"),
        "champion": champion,
        "units": evidence.get("units"),
        "unit": evidence.get("unit"),
        "decision": outcome,
        "decision_words": outcome_words,
        "reason": gate.get("reason"),
        "version": model.get("version"),
        "aliases": model.get("aliases") or [],
        "previous_champion": model.get("previous_champion"),
        "cost": cost,
        "links": links,
        "has_summary": summary is not None,
    }


def _lakefs_ui(links: dict[str, str]) -> str:
    """The lakeFS UI base, from the night's lakeFS commit link (``<ui>/repositories/...``)."""
    commit = links.get(urls.LAKEFS_COMMIT, "")
    return commit.split("/repositories/")[0] if "/repositories/" in commit else ""


def nights(ds: DatasetConfig, src: Sources, limit: int = NIGHTS) -> list[dict[str, Any]]:
    """The dataset's newest ``limit`` nights, oldest first (the order of the charts)."""
    airflow, lake, airflow_ui = src.airflow, src.lake, src.airflow_ui
    runs = airflow.runs(ds.dag_id, limit)

    def one(run: dict[str, Any]) -> dict[str, Any]:
        if run.get("state") == "success":
            return night(run, airflow.result(run, "summarize"), [], airflow_ui)
        if run.get("state") != "failed":  # queued, running: nothing final to show yet
            return night(run, None, [], airflow_ui)
        failed = airflow.failed_tasks(run)
        links = airflow.links(run, failed[0]) if failed else {}
        report = (
            lake.failed_report(ds.repository, ds.dag_id, run["dag_run_id"], run.get("end_date"))
            if VALIDATE in failed
            else None
        )
        return night(run, None, failed, airflow_ui, report, links)

    with ThreadPoolExecutor(PARALLEL) as pool:
        out = list(pool.map(one, runs))
    return sorted(out, key=lambda n: (n["date"], n["started"] or ""))


def rollbacks(ds: DatasetConfig, airflow: AirflowReader) -> list[dict[str, Any]]:
    """Successful ``rollback_model`` runs of this dataset's model: when, from, to, who, why."""
    out = []
    for run in airflow.runs(ROLLBACK_DAG, 100):
        if run.get("state") != "success" or (run.get("conf") or {}).get("dataset") != ds.name:
            continue
        moved = airflow.result(run, "move_champion") or {}
        out.append(
            {
                "at": moved.get("rollback.at") or run.get("end_date"),
                "from_version": moved.get("from_version"),
                "to_version": moved.get("to_version"),
                "by": moved.get("rollback.by"),
                "reason": moved.get("rollback.reason"),
                "run_id": run["dag_run_id"],
            }
        )
    return sorted(out, key=lambda r: str(r["at"]))


def champion_history(
    night_list: list[dict[str, Any]], rolled: list[dict[str, Any]], current: str | None = None
) -> list[dict[str, Any]]:
    """The champion's version over time, from the nights that promoted and the rollbacks, in the
    order they happened (``at``, wall clock): a backfill of old dates can promote after a newer
    night did. ``current``: the champion now, shown from the start when nothing here moved it."""
    events: list[dict[str, Any]] = []
    promoted = sorted(
        (n for n in night_list if n["version"] and CHAMPION in n["aliases"] and n["ended"]),
        key=lambda n: str(n["ended"]),
    )
    for n in promoted:
        if n["previous_champion"] and not events:
            events.append({"at": n["started"], "version": n["previous_champion"], "how": "before", "who": ""})
        how = {"approved": "approved", "forced": "forced"}.get(n["decision"], "gate")
        events.append({"at": n["ended"], "version": n["version"], "how": how, "who": n["decision_words"]})
    for r in rolled:
        who = f"{r['by']}: {r['reason']}"
        events.append({"at": r["at"], "version": r["to_version"], "how": "rollback", "who": who})
    if not events and current and night_list and night_list[0]["started"]:
        events.append({"at": night_list[0]["started"], "version": current, "how": "before", "who": ""})
    return sorted(events, key=lambda e: _instant(e["at"]))


def _instant(stamp: Any) -> str:
    """An ISO time as a sortable UTC string (Airflow writes ``Z``, our tags ``+00:00``)."""
    import datetime as dt

    moment = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC).isoformat()


def champion_now(ds: DatasetConfig, mlflow: MlflowReader, metric: str) -> dict[str, Any] | None:
    """The current champion: version, its gate metric on its own evaluation, and its tags."""
    version = mlflow.alias(ds.model_name, CHAMPION)
    if not version:
        return None
    metrics = mlflow.run_metrics(version["run_id"]) if version.get("run_id") else {}
    tags = {t["key"]: t["value"] for t in version.get("tags", [])}
    return {"version": str(version["version"]), "metric": metrics.get(metric), "tags": tags}


def nights_since_promotion(night_list: list[dict[str, Any]]) -> int | None:
    """Nights that finished after the last one that made a champion (None: none in the window)."""
    promoted = [_instant(n["ended"]) for n in night_list if CHAMPION in n["aliases"] and n["ended"]]
    if not promoted:
        return None
    last = max(promoted)
    return sum(1 for n in night_list if n["ended"] and _instant(n["ended"]) > last)
