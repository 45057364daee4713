"""The nightly sensor retraining, end to end through the scheduler of the session stack.

Runs in file order: three nights build a champion, then a bad batch, a rerun and a
deliberately worse candidate must each leave it alone.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import lakefs
import pytest
from mlflow import MlflowClient

from include.retrain import config, lakefs_io, nightly, pipeline
from include.retrain.driver import run_dag
from include.retrain.endpoints import LakeFSEndpoint

DATES = ["2026-11-01", "2026-11-02", "2026-11-03"]
FAST = {"num_samples": 2, "max_epochs": 3}  # a small search keeps the suite quick
DS = config.get("pump_fleet")


@pytest.fixture(scope="module")
def clt(stack):
    return lakefs_io.client(
        LakeFSEndpoint(
            stack.config.url("lakefs"), stack.creds.lakefs_access_key_id, stack.creds.lakefs_secret_access_key
        )
    )


@pytest.fixture(scope="module")
def repo(clt):
    return lakefs.Repository(DS.repository, client=clt)


@pytest.fixture(scope="module")
def mlflow_client(stack):
    return MlflowClient(stack.config.url("mlflow"))


def _run(stack, date: str, conf: dict | None = None) -> tuple[dict, dict | None]:
    run = run_dag(stack, DS.dag_id, nightly.logical_date(DS, date), conf={**FAST, **(conf or {})}, timeout=900)
    summary = None
    if run["state"] == "success":
        summary = stack.airflow_api().xcom(DS.dag_id, run["dag_run_id"], "summarize")
    return run, summary


def _main_head(repo) -> str:
    return str(repo.branch("main").head.get_commit().id)


def _champion(mlflow_client):
    return mlflow_client.get_model_version_by_alias(DS.model_name, "champion")


@pytest.fixture(scope="module")
def three_nights(stack):
    summaries = []
    for date in DATES:
        nightly.seed(stack, DS, date, rows_per_segment=384)
        run, summary = _run(stack, date)
        assert run["state"] == "success", f"{date}: {run}"
        summaries.append(summary)
    return summaries


def test_three_nights_give_an_accurate_champion_with_real_lineage(three_nights, clt, repo, mlflow_client):
    for s in three_nights:
        assert s["new_data"] is True
        assert s["validation"]["passed"] and s["validation"]["files_total"] == 24
        assert s["training"]["trials"] == FAST["num_samples"]
    champion = _champion(mlflow_client)
    assert champion.version == three_nights[-1]["model"]["version"]
    run = mlflow_client.get_run(champion.run_id)
    assert run.data.metrics["holdout_accuracy"] >= 0.9
    assert run.data.metrics["holdout_macro_f1"] >= 0.9
    assert "champion_holdout_accuracy" in run.data.metrics  # nights 2 and 3 met a champion
    assert {f"holdout_recall_{label}" for label in DS.sensor.labels} <= set(run.data.metrics)
    assert "evaluation/confusion_matrix.png" in [
        a.path for a in mlflow_client.list_artifacts(run.info.run_id, "evaluation")
    ]
    children = mlflow_client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert len(children) == FAST["num_samples"]  # every trial is a child run
    for s in three_nights:
        version = mlflow_client.get_model_version(DS.model_name, s["model"]["version"])
        tags = version.tags
        for key in (
            "lakefs.repo",
            "lakefs.commit",
            "airflow.dag_id",
            "airflow.run_id",
            "git.sha",
            "gate.decision",
            "gate.reason",
        ):
            assert tags.get(key), f"v{version.version} lacks tag {key}"
        commit = repo.commit(tags["lakefs.commit"]).get_commit()  # resolves to a real commit
        assert commit.metadata["airflow.run_id"] == tags["airflow.run_id"]
        assert commit.metadata["validation.passed"] == "true"
        tag = repo.tag(f"model-{DS.model_name}-v{version.version}").get_commit()
        assert tag.id == tags["lakefs.commit"]
    # the data of all three nights is on main, and the run branches are gone
    paths = {p for p, _, _ in lakefs_io.list_paths(clt, DS.repository, "main", "data/")}
    assert {f"data/dt={d}/pump-001.parquet" for d in DATES} <= paths
    assert [b.id for b in repo.branches()] == ["main"]


def test_bad_batch_fails_at_validation_and_leaves_main_and_champion(stack, three_nights, clt, repo, mlflow_client):
    head, champion = _main_head(repo), _champion(mlflow_client).version
    date = "2026-11-04"
    nightly.seed(
        stack, DS, date, assets=3, rows_per_segment=384, bad=["nan", "dead", "range", "schema", "label", "truncated"]
    )
    run, _ = _run(stack, date)
    assert run["state"] == "failed"
    states = {t["task_id"]: t["state"] for t in stack.airflow_api().task_instances(DS.dag_id, run["dag_run_id"])}
    assert states["validate"] == "failed" and states["publish_data"] == "upstream_failed"
    assert _main_head(repo) == head
    assert _champion(mlflow_client).version == champion
    branch = lakefs_io.run_branch_name(DS.dag_id, run["dag_run_id"])
    assert branch in {b.id for b in repo.branches()}, "the failed branch is kept for inspection"
    path = f"{pipeline.report_prefix(DS.dag_id, run['dag_run_id'])}/validation.json"
    report = json.loads(lakefs_io.read_bytes(clt, DS.repository, branch, path))
    assert report["passed"] is False and report["files_bad"] == 6
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reasons"] for f in report["files"] if not f["ok"]}
    assert set(reasons) == {f"bad-{k}.parquet" for k in ("nan", "dead", "range", "schema", "label", "truncated")}
    assert reasons["bad-dead.parquet"][0].startswith("dead sensor")
    assert reasons["bad-schema.parquet"][0].startswith("missing columns ['motor_current']")
    log = stack.airflow_api().task_log(DS.dag_id, run["dag_run_id"], "validate", 1)
    assert "bad-truncated.parquet" in log and "main is untouched" in log


def test_rerun_of_a_date_makes_no_commit_and_no_version(stack, three_nights, repo, mlflow_client):
    head = _main_head(repo)
    versions = len(mlflow_client.search_model_versions(f"name='{DS.model_name}'"))
    run, summary = _run(stack, DATES[-1])  # clears and reruns the existing run
    assert run["state"] == "success"
    assert summary["new_data"] is False and summary["commit"] == head
    assert summary["training"]["skipped"] is True
    assert _main_head(repo) == head
    assert len(mlflow_client.search_model_versions(f"name='{DS.model_name}'")) == versions


def test_worse_candidate_is_challenger_but_not_champion(stack, three_nights, repo, mlflow_client):
    champion = _champion(mlflow_client).version
    date = "2026-11-05"
    nightly.seed(stack, DS, date, rows_per_segment=384)
    run, summary = _run(stack, date, {"train_label_noise": 0.7})
    assert run["state"] == "success"
    assert summary["gate"]["decision"] == "reject"
    assert "below the champion's" in summary["gate"]["reason"] or "< floor" in summary["gate"]["reason"]
    version = summary["model"]["version"]
    assert mlflow_client.get_model_version_by_alias(DS.model_name, "challenger").version == version
    assert _champion(mlflow_client).version == champion
    tags = mlflow_client.get_model_version(DS.model_name, version).tags
    assert tags["gate.decision"] == "reject" and tags["gate.reason"] == summary["gate"]["reason"]
    path = f"dags/{DS.dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}"
    note = stack.airflow_api().request("GET", path).json()["note"]
    assert "- gate: REJECT" in note and f"v{version}" in note
