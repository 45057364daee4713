"""The real training job on a split larger than ``tune.train_budget_mb`` reads only the newest
nights that fill the budget, trains on a class-stratified sample that fits it, says both in its
log, and records them on the candidate (MLflow params), so ``make reproduce`` reads the same
nights and samples (``reproduce.fetch``, ``reproduce.train``). The real evaluation job within a
``gate.holdout_budget_mb`` does the same with the holdout (tag ``holdout.since``). The trial reads
its samples from the nights' derived shards itself.
"""

from __future__ import annotations

import re

from mlflow import MlflowClient

from include.retrain import config
from include.retrain.lake import lakefs_io
from include.retrain.ml import dataset
from tests.integration.conftest import dataset_copy, publish_partition, submit_job, wait_job

WINDOW_BYTES = 5 * 128 * 4  # pump_fleet: 5 channels x 128 rows of float32
ROOM = 100  # windows the budget has room for


def test_a_split_over_the_budget_trains_on_a_stratified_sample_recorded_on_the_candidate(stack, endpoint, tmp_path):
    base = dataset_copy("pump_fleet", "budget_sensor")
    tune = base.tune.model_copy(
        update={"num_samples": 1, "max_epochs": 2, "train_budget_mb": ROOM * WINDOW_BYTES / 2**20}
    )
    # a configured split: the plan is known before the first training, so it already reads by night
    ds = base.model_copy(update={"tune": tune, "split": config.Split(unit="asset")})
    publish_partition(stack, endpoint, ds, "2025-07-01", "budget__1")
    commit = publish_partition(stack, endpoint, ds, "2025-07-02", "budget__2")

    train = f"python -m include.retrain.jobs.train --dataset {ds.name} --commit {commit} --airflow-run-id budget"
    trained, log = wait_job(*submit_job(stack, ds, train, "budget__train", tmp_path))
    counts = trained["samples"]["train"]
    assert sum(counts.values()) == ROOM and all(counts.values()), counts  # every class kept a share
    assert f"a class-stratified sample of {ROOM}" in log, log[-3000:]
    params = MlflowClient(stack.config.url("mlflow")).get_run(trained["run_id"]).data.params
    assert int(params["train_samples"]) == ROOM < int(params["train_samples_available"]), params
    assert float(params["train_budget_mb"]) == ds.tune.train_budget_mb
    # the newest night alone fills the budget with every class in every split: the older one is not read
    assert "read the newest 1 night (2025-07-02 .. 2025-07-02)" in log, log[-3000:]
    assert params["train_data_since"] == "2025-07-02"
    # the trial read the newest night's shard itself and kept the driver's sample of it (it checks
    # that it has the driver's counts): no array came through the Ray object store
    assert re.search(r"read \d+ MB of samples from 1 derived shard\(s\)", log), log[-3000:]
    clt = lakefs_io.client(endpoint)
    newest = dataset.load_splits(ds, commit, clt, since="2025-07-02")  # what make reproduce reads
    whole = dataset.load_splits(ds, commit, clt)
    assert int(params["train_samples_available"]) == len(newest["train"]) < len(whole["train"])

    # the evaluation within a holdout budget of one window: the newest night's holdout, recorded
    gate = ds.gate.model_copy(update={"holdout_budget_mb": WINDOW_BYTES / 2**20})
    ds = ds.model_copy(update={"gate": gate})
    evaluate = f"python -m include.retrain.jobs.evaluate --dataset {ds.name} --commit {commit}"
    evaluate += f" --run-id {trained['run_id']}"
    scored, log = wait_job(*submit_job(stack, ds, evaluate, "budget__evaluate", tmp_path))
    assert "the holdout of the newest 1 night (2025-07-02 .. 2025-07-02)" in log, log[-3000:]
    assert scored["holdout_samples"] == len(newest["holdout"]) < len(whole["holdout"])
    tags = MlflowClient(stack.config.url("mlflow")).get_run(trained["run_id"]).data.tags
    assert tags["holdout.since"] == "2025-07-02"
