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


def _export_shapes(date: str) -> dict[str, bytes]:
    """Four assets of a night, each written the way a real exporter writes it, plus the markers and
    checksums a Spark job leaves beside them."""
    import io

    import pandas as pd

    from devstack import generate

    frames = [pd.read_parquet(io.BytesIO(f.body)) for f in generate.partition(DS, date, assets=4, rows_per_segment=256)]
    iso, ints, messy, secs = (f.copy() for f in frames)
    # Python's isoformat(): fractional seconds only when they are not zero
    iso["timestamp"] = [t.isoformat() for t in iso["timestamp"].dt.to_pydatetime()]
    # an ADC export: int16 channels, epoch milliseconds
    for ch in DS.sensor.channels:
        ints[ch] = ints[ch].round().astype("int16")
    epoch = pd.Timestamp(0, tz="UTC")
    ints["timestamp"] = (ints["timestamp"] - epoch) // pd.Timedelta(milliseconds=1)
    # parallel writers and a retry: rows shuffled, 50 of them twice; float32 channels
    messy = pd.concat([messy, messy.iloc[100:150]]).sample(frac=1.0, random_state=0)
    messy[DS.sensor.channels] = messy[DS.sensor.channels].astype("float32")
    # epoch seconds as floats, in a CSV
    secs["timestamp"] = (secs["timestamp"] - epoch) / pd.Timedelta(seconds=1)
    return {
        "iso-mixed.csv": iso.to_csv(index=False).encode(),
        "int16-epoch-ms.parquet": ints.to_parquet(index=False),
        "unsorted-duplicates.parquet": messy.to_parquet(index=False),
        "epoch-seconds.csv": secs.to_csv(index=False).encode(),
        "_SUCCESS": b"",
        ".int16-epoch-ms.parquet.crc": b"crc",
        "_committed_4711": b"{}",
    }


def test_real_export_shapes_validate_and_reach_main_and_markers_are_ignored(stack, clt, repo):
    """Timestamps as isoformat() writes them, epoch numbers, int16 and float32 channels, unsorted
    rows with duplicated rows: every file validates and is merged; Spark's markers are ignored."""
    date = "2026-10-05"
    s3 = stack.s3_client()
    for name, body in _export_shapes(date).items():
        s3.put_object(Bucket=DS.landing.bucket, Key=f"{DS.landing.prefix}/dt={date}/{name}", Body=body)
    run = run_dag(stack, DS.dag_id, nightly.logical_date(DS, date), conf=INGEST_ONLY, timeout=300)
    api = stack.airflow_api()
    validation = api.xcom(DS.dag_id, run["dag_run_id"], "validate")
    assert run["state"] == "success", validation
    assert validation["files_bad"] == 0 and validation["files_total"] == 4, validation["files"]
    data = {"iso-mixed.csv", "int16-epoch-ms.parquet", "unsorted-duplicates.parquet", "epoch-seconds.csv"}
    assert _data_on_main(clt, date) == data
    ingested = api.xcom(DS.dag_id, run["dag_run_id"], "ingest")
    assert sorted(k.rsplit("/", 1)[-1] for k in ingested["ignored"]) == [
        ".int16-epoch-ms.parquet.crc",
        "_SUCCESS",
        "_committed_4711",
    ]
    notes = {f["path"].rsplit("/", 1)[-1]: f["notes"] for f in validation["files"]}
    assert notes["unsorted-duplicates.parquet"] == [
        "rows sorted by asset and timestamp",
        "50 exact duplicate rows dropped",
    ]


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
