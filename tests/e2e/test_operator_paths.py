"""What an operator does after a bad night, through the same REST API the UI calls.

The DAG ``retrain_pump_guard`` (a copy of pump_fleet on its own landing prefix and lakeFS
repository, tests/conftest.py) keeps the default 180-minute deadline, so every Clear here happens
inside the run's deadline window. Runs use ``ingest_only``: these paths are about the data.
"""

from __future__ import annotations

import time

import pytest

from devstack import nightly
from devstack.nightly import run_dag
from include.retrain import config
from include.retrain.lake import lakefs_io
from tests.e2e.conftest import main_head, repository, wait_for_backfill_runs

DS = config.get("pump_guard")
INGEST_ONLY = {"ingest_only": True}


@pytest.fixture(scope="module")
def repo(clt):
    from include.retrain.lake import guard

    guard.ensure_dataset_repository(clt, DS.repository)  # as the first run would make it
    return repository(clt, DS)


def _data_on_main(clt, date: str) -> set[str]:
    return {p.rsplit("/", 1)[-1] for p, _, _ in lakefs_io.list_paths(clt, DS.repository, "main", f"data/dt={date}/")}


def _clear(stack, run_id: str) -> None:
    """The UI's Clear on a whole run (``POST .../clear``), then wait for the rerun to end."""
    api = stack.airflow_api()
    resp = api.request("POST", f"dags/{DS.dag_id}/dagRuns/{run_id}/clear", ok=(200, 500), json={"dry_run": False})
    assert resp.status_code == 200, f"Clear answered {resp.status_code}: {resp.text[:300]}"


def _wait(stack, run_id: str) -> dict:
    api = stack.airflow_api()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = api.request("GET", f"dags/{DS.dag_id}/dagRuns/{run_id}").json()
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(1)
    raise AssertionError(f"{run_id} still {run['state']}")


def test_clear_inside_the_deadline_window_reruns_and_refused_files_never_reach_main(stack, clt, repo):
    date = "2026-10-01"
    nightly.seed(stack, DS, date, assets=4, rows_per_segment=256, bad=["nan", "inf", "dead"])
    head = main_head(repo)
    run = run_dag(stack, DS.dag_id, nightly.logical_date(DS, date), conf=INGEST_ONLY, timeout=300)
    assert run["state"] == "failed", "3 bad files of 7 are beyond max_bad_fraction"
    assert main_head(repo) == head
    # the operator removes the refused files from the landing zone and clears the run
    s3 = stack.s3_client()
    for kind in ("nan", "inf", "dead"):
        s3.delete_object(Bucket=DS.landing.bucket, Key=f"{DS.landing.prefix}/dt={date}/bad-{kind}.parquet")
    _clear(stack, run["dag_run_id"])
    rerun = _wait(stack, run["dag_run_id"])
    assert rerun["state"] == "success"
    on_main = _data_on_main(clt, date)
    assert on_main == {f"{a}.parquet" for a in ("pump-001", "pump-002", "pump-003", "pump-004")}, on_main
    merge = repo.commit(main_head(repo)).get_commit()
    assert merge.metadata["validation.passed"] == "true" and merge.metadata["airflow.run_id"] == run["dag_run_id"]


def test_a_rerun_of_a_date_with_a_quarantined_file_succeeds_and_merges_nothing_new(stack, clt, repo):
    date = "2026-10-02"
    nightly.seed(stack, DS, date, assets=4, rows_per_segment=256, bad=["nan"])  # 1 of 5: under tolerance
    run = run_dag(stack, DS.dag_id, nightly.logical_date(DS, date), conf=INGEST_ONLY, timeout=300)
    assert run["state"] == "success"
    head = main_head(repo)
    assert "bad-nan.parquet" not in _data_on_main(clt, date)
    _clear(stack, run["dag_run_id"])
    rerun = _wait(stack, run["dag_run_id"])
    assert rerun["state"] == "success"
    assert main_head(repo) == head, "the rerun merged something"
    summary = stack.airflow_api().xcom(DS.dag_id, run["dag_run_id"], "summarize")
    assert summary["new_data"] is False


def test_a_failed_run_can_be_cleared_at_once(stack, repo):
    date = "2026-10-03"  # nothing landed: ingest fails without retry
    run = run_dag(stack, DS.dag_id, nightly.logical_date(DS, date), conf=INGEST_ONLY, timeout=300)
    assert run["state"] == "failed"
    _clear(stack, run["dag_run_id"])  # seconds after the failure, far inside the 180 min deadline
    assert _wait(stack, run["dag_run_id"])["state"] == "failed"  # still nothing landed: the same clear error


def test_three_rest_backfills_in_a_row_with_the_dag_unpaused_keep_the_scheduler_alive(stack):
    """Backfills as a user makes them on the default stack (PostgreSQL): the DAG unpaused, three
    backfills of three dates with 3 active runs, one after the other; the scheduler never dies."""
    api = stack.airflow_api()
    api.unpause(DS.dag_id)
    scheduler = stack.pid("airflow-scheduler")
    for first in ("2026-09-01", "2026-09-11", "2026-09-21"):
        y, m, d = first.split("-")
        dates = [f"{y}-{m}-{int(d) + k:02d}" for k in range(3)]
        for date in dates:
            nightly.seed(stack, DS, date, assets=2, rows_per_segment=256)
        window = (nightly.logical_date(DS, dates[0]), nightly.logical_date(DS, dates[-1]))
        backfill = api.backfill(DS.dag_id, *window, max_active_runs=3, conf=INGEST_ONLY)
        assert backfill["max_active_runs"] == 3
        runs, _ = wait_for_backfill_runs(stack, DS.dag_id, dates, timeout=300)
        assert [r["state"] for r in runs] == ["success"] * 3, runs
        api.wait_for_backfill(backfill["id"], timeout=120)  # the next backfill is refused (409) until then
    assert stack.pid("airflow-scheduler") == scheduler
    assert api.request("GET", "monitor/health").json()["scheduler"]["status"] == "healthy"
