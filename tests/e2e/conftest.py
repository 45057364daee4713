"""Helpers shared by the end-to-end tests of every modality (the session ``stack`` is in tests/conftest.py)."""

from __future__ import annotations

import time
from typing import Any

import lakefs
import pytest
from mlflow import MlflowClient

from devstack import nightly
from devstack.nightly import run_dag
from include.retrain import config
from include.retrain.lake import lakefs_io

FAST = {"num_samples": 2, "max_epochs": 4}  # a small search keeps the suite quick


@pytest.fixture(scope="session")
def clt(stack):
    return lakefs_io.client(stack.lakefs_endpoint())


@pytest.fixture(scope="session")
def mlflow_client(stack):
    return MlflowClient(stack.config.url("mlflow"))


def run_date(stack, ds: config.DatasetConfig, date: str, conf: dict | None = None) -> tuple[dict, dict | None]:
    """Run (or clear and rerun) the dataset's DAG for partition ``date``; returns the run and its summary."""
    run = run_dag(stack, ds.dag_id, nightly.logical_date(ds, date), conf={**FAST, **(conf or {})}, timeout=900)
    summary = None
    if run["state"] == "success":
        summary = stack.airflow_api().xcom(ds.dag_id, run["dag_run_id"], "summarize")
    return run, summary


def main_head(repo: Any) -> str:
    return str(repo.branch("main").head.get_commit().id)


def champion_of(mlflow_client: MlflowClient, ds: config.DatasetConfig) -> Any:
    return mlflow_client.get_model_version_by_alias(ds.model_name, "champion")


def repository(clt: Any, ds: config.DatasetConfig) -> Any:
    return lakefs.Repository(ds.repository, client=clt)


def nights(stack, ds: config.DatasetConfig, dates: list[str], **seed_kwargs: Any) -> list[dict]:
    """Seed and run several nights in order; each must succeed."""
    summaries = []
    for date in dates:
        nightly.seed(stack, ds, date, **seed_kwargs)
        run, summary = run_date(stack, ds, date)
        assert run["state"] == "success", f"{ds.dag_id} {date}: {run}"
        summaries.append(summary)
    return summaries


def assert_lineage(summaries: list[dict], ds: config.DatasetConfig, repo: Any, mlflow_client: MlflowClient) -> None:
    """Every version's lineage tags resolve: lakeFS commit (with the run in its metadata) and model tag."""
    for s in summaries:
        version = mlflow_client.get_model_version(ds.model_name, s["model"]["version"])
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
        commit = repo.commit(tags["lakefs.commit"]).get_commit()
        assert commit.metadata["airflow.run_id"] == tags["airflow.run_id"]
        assert commit.metadata["validation.passed"] == "true"
        assert repo.tag(f"model-{ds.model_name}-v{version.version}").get_commit().id == tags["lakefs.commit"]


CAST = config.get("cast_metal")
CAST_DATES = ["2026-11-01", "2026-11-02", "2026-11-03"]


@pytest.fixture(scope="session")
def cast_nights(stack) -> list[dict]:
    """Three nights of the image dataset (shared by the image and the operations tests)."""
    return nights(stack, CAST, CAST_DATES, per_class=30)


def wait_for_backfill_runs(stack, dag_id: str, dates: list[str], timeout: float) -> tuple[list[dict], int]:
    """Wait until the backfill runs of ``dates`` are all finished, checking that the scheduler never
    dies meanwhile; returns the runs and the most of them seen running at once."""
    api, scheduler = stack.airflow_api(), stack.pid("airflow-scheduler")
    most_running, deadline = 0, time.monotonic() + timeout
    while True:
        runs = [r for r in api.runs(dag_id, run_type="backfill") if r["logical_date"][:10] in dates]
        most_running = max(most_running, sum(r["state"] == "running" for r in runs))
        if len(runs) == len(dates) and all(r["state"] in ("success", "failed") for r in runs):
            return runs, most_running
        assert time.monotonic() < deadline, f"backfill still going: {[(r['run_id'], r['state']) for r in runs]}"
        assert stack.pid("airflow-scheduler") == scheduler, "the scheduler died during the backfill"
        time.sleep(1)


def real_data_candidate(mlflow_client: MlflowClient, summary: dict, what: str, unit: str, chance: float) -> Any:
    """The candidate of a night of real data: trained on a split by ``unit``, with a holdout
    macro-F1 of at least 0.6, far above ``chance`` (its figures are printed)."""
    run = mlflow_client.get_run(summary["training"]["mlflow_run_id"])
    assert run.data.params["split_unit"] == unit
    m = run.data.metrics
    print(
        f"{what}: holdout macro-F1 {m['holdout_macro_f1']:.3f}, accuracy {m['holdout_accuracy']:.3f} "
        f"on {int(m['holdout_samples'])} samples"
    )
    assert m["holdout_macro_f1"] >= 0.6, f"macro-F1 {m['holdout_macro_f1']:.3f}: chance is {chance}"
    return run
