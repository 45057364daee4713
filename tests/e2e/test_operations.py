"""Recovery from the UI: roll the champion back, refuse an unknown version, revert data on main."""

from __future__ import annotations

import time

from include.retrain import lakefs_io, nightly
from include.retrain.driver import run_dag
from tests.e2e.conftest import CAST, champion_of, main_head, repository, run_date


def _trigger(stack, dag_id: str, conf: dict) -> dict:
    return run_dag(stack, dag_id, None, conf=conf, timeout=300)


def test_rollback_to_previous_records_who_why_when(stack, cast_nights, mlflow_client):
    # a forced promotion makes sure an earlier promoted version exists, whatever the gate said before
    nightly.seed(stack, CAST, "2026-11-07", per_class=30)
    run, summary = run_date(stack, CAST, "2026-11-07", {"force_promote": True})
    assert run["state"] == "success" and "champion" in summary["model"]["aliases"]
    current = champion_of(mlflow_client, CAST).version
    assert current == summary["model"]["version"]
    run = _trigger(
        stack, "rollback_model", {"dataset": CAST.name, "version": "previous", "reason": "false rejects on line 3"}
    )
    assert run["state"] == "success"
    moved = champion_of(mlflow_client, CAST)
    assert int(moved.version) < int(current)
    assert moved.tags["gate.decision"] == "promote"
    assert moved.tags["rollback.reason"] == "false rejects on line 3"
    assert moved.tags["rollback.by"] == stack.creds.airflow_username
    assert moved.tags["rollback.from_version"] == current and moved.tags["rollback.at"]
    old = mlflow_client.get_model_version(CAST.model_name, current)
    assert "false rejects on line 3" in old.tags["rolled_back.reason"]


def test_rollback_to_an_unknown_version_is_refused(stack, cast_nights, mlflow_client):
    before = champion_of(mlflow_client, CAST).version
    run = _trigger(stack, "rollback_model", {"dataset": CAST.name, "version": "999", "reason": "typo test"})
    assert run["state"] == "failed"
    assert champion_of(mlflow_client, CAST).version == before
    api = stack.airflow_api()
    log = api.task_log("rollback_model", run["dag_run_id"], "move_champion", 1)
    assert "rollback refused: model 'cast_metal' has no version '999'" in log


def test_revert_data_creates_a_revert_commit_on_main(stack, cast_nights, clt):
    repo = repository(clt, CAST)
    last = cast_nights[-1]["commit"]  # the merge of the last night
    date = "2026-11-03"
    assert any(
        p.startswith(f"data/dt={date}/") for p, _, _ in lakefs_io.list_paths(clt, CAST.repository, last, "data/")
    )
    run = _trigger(stack, "revert_data", {"dataset": CAST.name, "commit": last, "reason": "mislabelled batch"})
    assert run["state"] == "success"
    head = main_head(repo)
    commit = repo.commit(head).get_commit()
    assert commit.metadata["revert.reason"] == "mislabelled batch"
    assert commit.metadata["revert.commit"] == last
    assert not [p for p, _, _ in lakefs_io.list_paths(clt, CAST.repository, head, f"data/dt={date}/")]
    out = stack.airflow_api().xcom("revert_data", run["dag_run_id"], "revert_commit")
    assert out["commit"] == head


def test_backfill_of_five_dates_with_three_active_runs_loses_nothing(stack, cast_nights, clt):
    """A backfill after an outage: every date ingests its own partition, merges never lose data."""
    dates = [f"2026-10-0{d}" for d in range(1, 6)]
    for date in dates:
        nightly.seed(stack, CAST, date, per_class=6)
    api, repo = stack.airflow_api(), repository(clt, CAST)
    before = main_head(repo)
    window = (nightly.logical_date(CAST, dates[0]), nightly.logical_date(CAST, dates[-1]))
    planned = api.backfill(CAST.dag_id, *window, max_active_runs=3, dry_run=True)
    assert len(planned["backfills"]) == 5
    backfill = api.backfill(CAST.dag_id, *window, max_active_runs=3, conf={"ingest_only": True})
    assert backfill["max_active_runs"] == 3
    most_running, deadline = 0, time.monotonic() + 900
    while True:
        runs = [r for r in api.runs(CAST.dag_id, run_type="backfill") if r["logical_date"][:10] in dates]
        most_running = max(most_running, sum(r["state"] == "running" for r in runs))
        if len(runs) == 5 and all(r["state"] in ("success", "failed") for r in runs):
            break
        assert time.monotonic() < deadline, f"backfill still going: {[(r['run_id'], r['state']) for r in runs]}"
        time.sleep(1)
    assert [r["state"] for r in runs] == ["success"] * 5, runs
    assert 2 <= most_running <= 3  # runs overlapped, and never more than the backfill allows
    # five merge commits on main, one per run, each naming its run; the data of every date is there
    new = []
    for c in repo.branch("main").log(max_amount=50):
        if c.id == before:
            break
        new.append(c)
    merges = [c.metadata.get("airflow.run_id") for c in new if c.message.startswith("merge ")]
    assert sorted(merges) == sorted(r["dag_run_id"] for r in runs)
    head = main_head(repo)
    for date in dates:
        assert lakefs_io.list_paths(clt, CAST.repository, head, f"data/dt={date}/"), f"{date} lost"
    assert [b.id for b in repo.branches()] == ["main"]
