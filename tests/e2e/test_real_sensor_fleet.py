"""Real recordings through the whole DAG: BasicMotions (sktime's copy of the UEA archive), landed
as a user's watches export them, on the dataset ``motions_fleet`` whose entry gives only channels,
labels, window and a floor (tests/conftest.py).

Night 1 holds 12 recordings on one watch: no split can put every class in train, val and holdout,
so ``train`` fails once, without retries, with the counts in its log, the alert and the run note.
Night 2 lands all 80 recordings as 6 watches: the night trains on a split by time blocks (6
watches are too few to hold whole ones out) and the candidate is far above chance.
"""

from __future__ import annotations

import pytest

from devstack.real_data import basic_motions_fleet, device_csvs
from include.retrain import config
from tests.e2e.conftest import champion_of, real_data_candidate, run_date

DS = config.get("motions_fleet")


def _land(stack, date: str, table) -> None:
    s3 = stack.s3_client()
    for name, body in device_csvs(table).items():
        s3.put_object(Bucket=DS.landing.bucket, Key=f"{DS.landing.prefix}/dt={date}/{name}", Body=body)


def test_an_unsplittable_night_fails_once_with_its_counts_and_a_full_night_trains(stack, mlflow_client):
    import pandas as pd

    api = stack.airflow_api()
    fleet = basic_motions_fleet(1, start=pd.Timestamp("2026-09-01T08:00", tz="UTC").to_pydatetime())
    few = pd.concat([g.head(300) for _, g in fleet.groupby("label")], ignore_index=True)  # 3 recordings a class
    _land(stack, "2026-09-01", few)
    run, _ = run_date(stack, DS, "2026-09-01")
    assert run["state"] == "failed"
    train = next(t for t in api.task_instances(DS.dag_id, run["dag_run_id"]) if t["task_id"] == "train")
    assert train["state"] == "failed" and train["try_number"] == 1, train  # deterministic: no retry
    log = api.task_log(DS.dag_id, run["dag_run_id"], "train", 1)
    error = "dataset 'motions_fleet': split by machine and time block of"
    assert error in log and "Samples per class (train/val/holdout): badminton " in log and "not retried" in log
    assert "RETRAIN ALERT" in log and error in log.split("RETRAIN ALERT", 1)[1]
    note = api.request("GET", f"dags/{DS.dag_id}/dagRuns/{run['dag_run_id']}").json()["note"]
    assert note.startswith("**Failed** at `train` (try 1): AirflowFailException: " + error), note
    print(f"run note of the failed night:\n{note}")
    with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST"):  # no model was registered at all
        champion_of(mlflow_client, DS)

    _land(stack, "2026-09-02", basic_motions_fleet(6, start=pd.Timestamp("2026-09-02T08:00", tz="UTC").to_pydatetime()))
    run, summary = run_date(stack, DS, "2026-09-02", conf={"num_samples": 2, "max_epochs": 30})
    assert run["state"] == "success", run
    candidate = real_data_candidate(mlflow_client, summary, "BasicMotions as 6 watches", "time", chance=0.25)
    for label in DS.labels:
        assert candidate.data.metrics[f"holdout_support_{label}"] > 0
