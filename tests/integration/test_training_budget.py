"""The real training job on a split larger than ``tune.train_budget_mb`` trains on a class-stratified
sample that fits it, says so in its log, and records the budget on the candidate (MLflow params),
so ``make reproduce`` reads the same samples (``reproduce.train``).
"""

from __future__ import annotations

from mlflow import MlflowClient

from tests.integration.conftest import dataset_copy, publish_partition, submit_job, wait_job

WINDOW_BYTES = 5 * 128 * 4  # pump_fleet: 5 channels x 128 rows of float32
ROOM = 100  # windows the budget has room for


def test_a_split_over_the_budget_trains_on_a_stratified_sample_recorded_on_the_candidate(stack, endpoint, tmp_path):
    base = dataset_copy("pump_fleet", "budget_sensor")
    tune = base.tune.model_copy(
        update={"num_samples": 1, "max_epochs": 2, "train_budget_mb": ROOM * WINDOW_BYTES / 2**20}
    )
    ds = base.model_copy(update={"tune": tune})
    commit = publish_partition(stack, endpoint, ds, "2025-07-01", "budget__1")

    train = f"python -m include.retrain.jobs.train --dataset {ds.name} --commit {commit} --airflow-run-id budget"
    trained, log = wait_job(*submit_job(stack, ds, train, "budget__train", tmp_path))
    counts = trained["samples"]["train"]
    assert sum(counts.values()) == ROOM and all(counts.values()), counts  # every class kept a share
    assert f"a class-stratified sample of {ROOM}" in log, log[-3000:]
    params = MlflowClient(stack.config.url("mlflow")).get_run(trained["run_id"]).data.params
    assert int(params["train_samples"]) == ROOM < int(params["train_samples_available"]), params
    assert float(params["train_budget_mb"]) == ds.tune.train_budget_mb
