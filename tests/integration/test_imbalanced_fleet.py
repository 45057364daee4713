"""A 90/5/5 fleet on the real stack: the candidate trained with the balanced loss is not rejected,
and a model that always answers the majority class, scored by the real evaluation job on the same
holdout, is rejected by the default gate (macro-F1) although its accuracy clears the floor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devstack import generate
from include.retrain.release.gate import decide
from tests.integration.conftest import dataset_copy, publish_files, submit_job, wait_job

LABELS = ["normal", "bearing_fault", "imbalance"]
FAULT_ROWS = 128  # one window of each fault per machine and night, against 23 normal ones


def _imbalanced_night(ds, date: str, machines: int = 24) -> dict[str, bytes]:
    files = {}
    for asset in generate.asset_ids(ds.name, machines):
        frame = generate.sensor_frame(ds.sensor, ds.name, date, asset, rows_per_segment=1536)
        keep = (frame.label == "normal") | (frame.groupby("label").cumcount() < FAULT_ROWS)
        files[f"{asset}.parquet"] = generate.to_parquet(frame[keep].reset_index(drop=True))
    return files


def _majority_model_run(uri: str, ds, channels: int) -> str:
    """A real ConvNet whose head always answers class 0 (normal), logged like a candidate."""
    import mlflow
    import torch

    from include.retrain.ml import models

    model = models.build({"width": 8, "depth": 1, "dropout": 0.0}, (channels, 128), len(LABELS), None, None)
    with torch.no_grad():
        model.head[1].weight.zero_()
        model.head[1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(ds.experiment)
    with mlflow.start_run(run_name="always normal") as run:
        example = np.zeros((2, channels, 128), np.float32)  # batch 2: a batch of 1 would be exported as fixed
        mlflow.pytorch.log_model(model, name="model", input_example=example, pip_requirements=["torch"])
    return str(run.info.run_id)


def test_the_majority_class_model_is_rejected_and_the_balanced_candidate_is_not(stack, endpoint, tmp_path):
    base = dataset_copy("pump_fleet", "imbalanced_sensor")
    sensor = base.sensor.model_copy(update={"labels": LABELS})
    tune = base.tune.model_copy(update={"num_samples": 1, "max_epochs": 12, "patience": 4})
    ds = base.model_copy(update={"sensor": sensor, "tune": tune})
    assert ds.gate.metric == "holdout_macro_f1" and ds.tune.class_weights == "balanced"  # the defaults
    commit = publish_files(stack, endpoint, ds, "2025-06-01", "imbalance__1", _imbalanced_night(ds, "2025-06-01"))

    train = f"python -m include.retrain.jobs.train --dataset {ds.name} --commit {commit} --airflow-run-id imb"
    trained, _ = wait_job(*submit_job(stack, ds, train, "imbalance__train", tmp_path))
    counts = trained["samples"]["train"]
    share = counts["normal"] / sum(counts.values())
    assert share >= 0.85, f"not imbalanced enough: {counts}"
    scores, evidence = {}, {}
    for name, run_id in (
        ("candidate", trained["run_id"]),
        ("majority", _majority_model_run(stack.config.url("mlflow"), ds, len(sensor.channels))),
    ):
        job = f"python -m include.retrain.jobs.evaluate --dataset {ds.name} --commit {commit} --run-id {run_id}"
        result, _ = wait_job(*submit_job(stack, ds, job, f"imbalance__{name}", tmp_path))
        scores[name], evidence[name] = result["scores"], result["evidence"]
    majority, candidate = scores["majority"], scores["candidate"]
    holdout = np.array([majority[f"holdout_support_{lab}"] for lab in LABELS])
    assert holdout[0] / holdout.sum() >= 0.85 and (holdout > 0).all(), holdout  # every class held out
    assert majority["holdout_accuracy"] >= ds.gate.floor  # accuracy alone would have promoted it
    rejected = decide(evidence["majority"], ds.gate.floor, ds.gate.max_regression)
    assert rejected["decision"] == "reject" and rejected["reason"].startswith("REJECT: macro-F1 0.3"), rejected
    # the interval of the majority model's macro-F1 lies wholly under the floor; the candidate's does not
    assert evidence["majority"]["candidate"]["high"] < ds.gate.floor
    balanced = decide(evidence["candidate"], ds.gate.floor, ds.gate.max_regression)
    print(f"majority model: {rejected['reason']}\ncandidate: {balanced['reason']}")
    assert balanced["decision"] != "reject", (balanced, pd.Series(candidate).round(3).to_dict())
