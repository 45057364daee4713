"""Nights before the first champion: a rejected candidate is not trained again on the same data.

``pump_first`` (tests/conftest.py) is pump_fleet on a repository of its own. Its first candidate is
trained with most labels moved to the next class (``train_label_noise``), so the gate rejects it
and no champion exists. The same night again (a Clear), with the same config and knobs, would train
the same candidate and reject it again (or ask a person again, and wait for the timeout): it stops
after ingest. A new run of the partition with other knobs is a different candidate: it is trained.

Its files are examined by a Ray job (``validation.spread_above_mb: 0``): the DAG's own task
submits it with the Airflow connection's address and token.
"""

from __future__ import annotations

from devstack import nightly
from devstack.nightly import run_dag
from include.retrain import config
from tests.e2e.conftest import FAST, main_head, repository, run_date

DS = config.get("pump_first")
DATE = "2026-10-01"
BAD = {"train_label_noise": 0.9}


def _ran(stack, run: dict) -> set[str]:
    states = stack.airflow_api().task_instances(DS.dag_id, run["dag_run_id"])
    return {t["task_id"] for t in states if t["state"] == "success"}


def test_a_rejected_first_candidate_is_not_trained_again_on_the_same_data(stack, clt, mlflow_client):
    nightly.seed(stack, DS, DATE, rows_per_segment=384)
    run, summary = run_date(stack, DS, DATE, BAD)
    assert run["state"] == "success" and summary["gate"]["decision"] == "reject", summary.get("gate")
    rejected = summary["model"]["version"]
    validated = stack.airflow_api().xcom(DS.dag_id, run["dag_run_id"], "validate")
    assert validated["examined_on_ray"]["tasks"] >= 1 and validated["passed"], validated
    head = main_head(repository(clt, DS))
    assert "champion" not in mlflow_client.get_registered_model(DS.model_name).aliases

    # the same night again (Airflow's Clear of the run), same knobs: nothing to do after ingest
    run, summary = run_date(stack, DS, DATE, BAD)
    assert run["state"] == "success"
    assert _ran(stack, run) == {"ingest", "summarize"}
    reason = summary["training"]["reason"]
    assert summary["training"]["skipped"] is True and f"candidate v{rejected} was trained on" in reason, reason
    assert "REJECT" in reason and "force_retrain" in reason, reason
    assert len(mlflow_client.search_model_versions(f"name='{DS.model_name}'")) == 1
    assert main_head(repository(clt, DS)) == head

    # other knobs are another candidate: trained, and this one clears the floor (a new manual run of
    # the same partition, as the trigger form makes it: a Clear would keep the first run's conf)
    run = run_dag(stack, DS.dag_id, None, conf={**FAST, "landing_date": DATE}, timeout=900)
    assert run["state"] == "success" and "train" in _ran(stack, run)
    summary = stack.airflow_api().xcom(DS.dag_id, run["dag_run_id"], "summarize")
    assert summary["gate"]["decision"] == "promote", summary["gate"]
    assert mlflow_client.get_model_version_by_alias(DS.model_name, "champion").version == summary["model"]["version"]
