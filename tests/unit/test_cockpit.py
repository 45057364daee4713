"""The cockpit's view of nights: from run summaries to the timeline, the champion's history and the
charts (Matplotlib, real rendering). The reads themselves are tested against the real stack in
tests/e2e/test_cockpit.py."""

from __future__ import annotations

import pytest

from include.retrain import config, summary
from include.retrain.cockpit import charts, history, pages

pytestmark = pytest.mark.unit
UI = "http://airflow.example"


def _run(date: str, state: str = "success") -> dict:
    return {
        "dag_id": "retrain_pump_fleet",
        "dag_run_id": f"scheduled__{date}T00:00:00+00:00",
        "state": state,
        "run_type": "scheduled",
        "logical_date": f"{date}T00:00:00Z",
        "start_date": f"{date}T01:00:00Z",
        "end_date": f"{date}T01:10:00Z",
    }


def _summary(
    date: str, *, decided_by: str = "gate", decision: str = "promote", version: str = "2", champion: bool = True
):
    files = [
        {"path": "dt=x/a.parquet", "rows": 1000, "reasons": [], "ok": True, "notes": []},
        {"path": "dt=x/b.csv", "rows": 40, "reasons": ["timestamp: 3 values not parseable"], "ok": False, "notes": []},
    ]
    validated = {"passed": True, "files_total": 2, "files_bad": 1, "report": "_reports/v.json", "files": files}
    validated |= {"quarantined": ["dt=x/b.csv"], "batch_warnings": []}
    drift = {"drift_detected": True, "drifted": ["vib_rms"], "threshold": 0.2, "unseen_files": 1}
    drift["features"] = {"vib_rms": {"psi": 0.35}, "temp": {"psi": 0.05}}
    evidence = {
        "metric": "holdout_macro_f1",
        "units": 12,
        "unit": "machine",
        "candidate": {"value": 0.91, "low": 0.88, "high": 0.94},
        "against": [
            {
                "role": "champion",
                "version": "1",
                "value": 0.9,
                "difference": {"value": 0.01, "low": -0.01, "high": 0.03},
            }
        ],
    }
    gated = {"promote": decision == "promote", "decision": decision, "reason": "PROMOTE: ...", "decided_by": decided_by}
    gated |= {"evidence": evidence, "cost": {"stages": {"train": 50.0, "evaluate": 10.0}, "total_seconds": 60.0}}
    model = {"name": "pump", "commit": "c0ffee", "version": version, "previous_champion": "1"}
    model["aliases"] = ["challenger", "champion"] if champion else ["challenger"]
    published = {"commit": "c0ffee" * 6, "new_data": True, "repository": "pump-fleet"}
    return summary.build(
        dag_id="retrain_pump_fleet",
        run_id=f"scheduled__{date}",
        date=date,
        published=published,
        validated=validated,
        drift=drift,
        skipped_reason=None,
        training=None,
        evaluation=None,
        gated=gated,
        model=model,
        links={"lakeFS commit": "http://lakefs.example/repositories/pump-fleet/commits/c0ffee"},
    )


def test_a_night_shows_rows_refused_files_with_reasons_who_decided_and_links():
    n = history.night(_run("2026-10-02"), _summary("2026-10-02", decided_by="ada in the Airflow UI"), [], UI)
    assert (n["files_in"], n["files_bad"], n["rows_in"], n["rows_refused"]) == (2, 1, 1000, 40)
    assert n["refused"] == [{"path": "dt=x/b.csv", "reasons": ["timestamp: 3 values not parseable"]}]
    assert (n["decision"], n["decision_words"]) == ("approved", "inconclusive -> approved by ada")
    assert n["champion"]["version"] == "1" and n["metric"]["low"] == 0.88
    assert (
        n["links"]["Airflow run"] == f"{UI}/dags/retrain_pump_fleet/runs/scheduled__2026-10-02T00%3A00%3A00%2B00%3A00"
    )
    # the report's link is built from the lakeFS UI of the commit link, at the night's commit
    assert n["links"]["Validation report"].startswith("http://lakefs.example/repositories/pump-fleet/")
    timeout = history.night(_run("2026-10-03"), _summary("2026-10-03", decided_by="timeout (no answer)"), [], UI)
    assert timeout["decision"] == "timeout"


def test_a_failed_night_without_a_summary_names_its_failed_tasks():
    n = history.night(_run("2026-10-04", "failed"), None, ["validate"], UI)
    assert n["state"] == "failed" and n["failed_tasks"] == ["validate"] and n["files_in"] is None
    assert n["date"] == "2026-10-04" and not n["has_summary"]


def test_the_champion_history_has_promotions_and_rollbacks_in_time_order():
    nights = [
        history.night(_run("2026-10-02"), _summary("2026-10-02", version="2"), [], UI),
        history.night(
            _run("2026-10-03"), _summary("2026-10-03", version="3", decision="reject", champion=False), [], UI
        ),
        history.night(_run("2026-10-04"), _summary("2026-10-04", version="4"), [], UI),
    ]
    rolled = [{"at": "2026-10-05T09:00:00+00:00", "from_version": "4", "to_version": "2", "by": "ada", "reason": "bad"}]
    events = history.champion_history(nights, rolled)
    assert [(e["version"], e["how"]) for e in events] == [
        ("1", "before"),
        ("2", "gate"),
        ("4", "gate"),
        ("2", "rollback"),
    ]
    assert history.nights_since_promotion(nights) == 0
    # a backfill of an old date that promoted last: the champion's history follows the clock
    late = history.night(
        {**_run("2026-09-30"), "end_date": "2026-10-05T02:00:00Z"}, _summary("2026-09-30", version="5"), [], UI
    )
    assert history.champion_history([late, *nights], [])[-1]["version"] == "5"
    assert history.nights_since_promotion([late, *nights]) == 0
    assert history.nights_since_promotion(nights[:2]) == 1
    # no night of the window moved the champion: it is shown from the start
    (kept,) = history.champion_history(nights[1:2], [], current="1")
    assert (kept["version"], kept["how"], kept["at"]) == ("1", "before", "2026-10-03T01:00:00Z")
    svg = charts.champion(events, "2026-10-06T00:00:00+00:00")
    assert svg.startswith("<svg") and "rollback" in svg and "champion version" in svg


def test_the_charts_draw_the_drift_threshold_the_intervals_and_the_cost_stages():
    nights = [history.night(_run(f"2026-10-0{d}"), _summary(f"2026-10-0{d}"), [], UI) for d in (2, 3, 4)]
    nights.append(history.night(_run("2026-10-05", "failed"), None, ["train"], UI))
    drift = charts.drift(nights, 0.2)
    assert "threshold 0.2" in drift and "vib_rms" in drift and "temp" in drift
    metric = charts.metric(nights, "holdout_macro_f1", 0.8)
    assert "floor 0.8" in metric and "champion, same holdout" in metric and "candidate: promote" in metric
    cost = charts.cost(nights)
    assert "train" in cost and "evaluate" in cost
    assert "run failed" in charts.files(nights)
    # nothing to draw is said in words, not an empty frame
    assert "no candidate evaluated" in charts.metric([nights[-1]], "holdout_macro_f1", 0.8)


def test_the_dataset_page_renders_the_timeline_and_the_overview_sorts_missing_values_last():
    ds = config.get("pump_fleet")
    nights = [history.night(_run("2026-10-02"), _summary("2026-10-02", decided_by="ada in the Airflow UI"), [], UI)]
    view = {
        "now": "2026-10-03T00:00+00:00",
        "dataset": ds.name,
        "dag_id": ds.dag_id,
        "dag_url": f"{UI}/dags/{ds.dag_id}",
        "metric_name": ds.gate.metric,
        "floor": ds.gate.floor,
        "drift_threshold": 0.2,
        "nights": nights,
        "rollbacks": [],
        "champion_history": history.champion_history(nights, []),
        "champion": {"version": "2", "metric": 0.91, "url": "http://mlflow.example/#/models/pump/versions/2"},
        "since_promotion": 0,
        "approvals": [],
    }
    html = pages.render(
        "dataset.html", root="/retraining", ds=ds, charts=pages.charts(view), **view, calls=pages.Calls(), seconds=0.1
    )
    assert 'data-run-id="scheduled__2026-10-02T00:00:00+00:00"' in html and "approved by ada" in html
    assert "timestamp: 3 values not parseable" in html and "1,000 rows" in html
    assert html.count("<svg") == 5 and "threshold 0.2" in html
    rows = [
        {"dataset": "b", "last": None, "champion": None, "since_promotion": None, "approvals": [], "drift": []},
        {"dataset": "a", "last": None, "champion": {"metric": 0.7}, "since_promotion": 3, "approvals": [], "drift": []},
        {"dataset": "c", "last": None, "champion": {"metric": 0.9}, "since_promotion": 1, "approvals": [], "drift": []},
    ]
    assert [r["dataset"] for r in pages.sort_rows(rows, "champion", True)] == ["c", "a", "b"]
    assert [r["dataset"] for r in pages.sort_rows(rows, "since", False)] == ["c", "a", "b"]
