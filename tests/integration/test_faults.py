"""Injected faults against the real services of the session stack."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from devstack import generate
from include.retrain import steps
from include.retrain.handoffs import RunLineage
from include.retrain.lake import guard, lakefs_io
from tests.integration.conftest import dataset_copy

FAULT = dataset_copy("pump_fleet", "fault_sensor")


def test_lakefs_killed_mid_ingest_then_the_retry_completes_without_duplicates(stack, endpoint):
    date, run_id = "2025-03-01", "fault__lakefs_killed"
    lineage = RunLineage(FAULT.dag_id, run_id, date)
    files = generate.sensor_partition(FAULT, date, assets=40, rows_per_segment=1024)
    generate.write(files, FAULT.landing.prefix, s3=stack.s3_client(), bucket=FAULT.landing.bucket)
    clt = lakefs_io.client(endpoint)
    repo = guard.ensure_dataset_repository(clt, FAULT.repository)  # as the first ingest makes it
    main_before = str(repo.branch("main").head.get_commit().id)
    branch = lakefs_io.run_branch_name(FAULT.dag_id, run_id)
    first: dict[str, BaseException] = {}

    def ingest_once() -> None:
        try:
            steps.ingest(FAULT, stack.s3_client(), date, endpoint, lineage)
        except BaseException as exc:  # the failure the task would see
            first["error"] = exc

    worker = threading.Thread(target=ingest_once)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill lakeFS once part of the partition is on the branch
        if lakefs_io.branch_exists(repo, branch):
            copied = len(lakefs_io.list_paths(clt, FAULT.repository, branch, f"data/dt={date}/"))
            if copied >= 3:
                break
        time.sleep(0.05)
    pgid = stack.pid("lakefs")
    assert pgid, "lakeFS is not running"
    os.killpg(pgid, signal.SIGKILL)
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert "error" in first, "the ingest did not notice that lakeFS died (it finished before the kill)"

    stack.up()  # restarts only lakeFS, as a supervisor (systemd, Kubernetes) would
    retry = steps.ingest(FAULT, stack.s3_client(), date, endpoint, lineage)
    assert retry["listed"] == len(files) and not retry["rejected"]
    on_branch = lakefs_io.list_paths(clt, FAULT.repository, branch, f"data/dt={date}/")
    assert sorted(p for p, _, _ in on_branch) == sorted(f"data/{f.key}" for f in files)  # all, once each
    sizes = {p: size for p, size, _ in on_branch}
    assert all(sizes[f"data/{f.key}"] == len(f.body) for f in files), "a partial object survived"
    assert str(repo.branch("main").head.get_commit().id) == main_before, "partial data was merged"
    report = steps.validate(FAULT, endpoint, retry, lineage)
    published = steps.publish_data(FAULT, endpoint, retry, report, lineage)
    on_main = lakefs_io.list_paths(clt, FAULT.repository, published["commit"], f"data/dt={date}/")
    assert len(on_main) == len(files)


def test_mlflow_down_at_publish_then_the_retry_leaves_one_version_and_no_dangling_alias(stack, monkeypatch):
    import mlflow
    import torch
    from mlflow import MlflowClient

    from include.retrain.handoffs import GateDecision
    from include.retrain.release import registry

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast while MLflow is down
    uri, name = stack.config.url("mlflow"), "fault_model"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("retrain/fault_model")
    with mlflow.start_run() as run:
        mlflow.pytorch.log_model(
            torch.nn.Linear(3, 2), name="model", input_example=torch.zeros(1, 3).numpy(), pip_requirements=["torch"]
        )
    client = MlflowClient(uri)
    decision: GateDecision = {
        "promote": True,
        "decision": "promote",
        "reason": "test: beats the floor",
        "forced": False,
    }
    lineage = {"lakefs.commit": "c0ffee", "airflow.run_id": "fault__mlflow_down"}

    # A first try that died half-way: the version is registered, no tag and no alias yet ...
    half = registry.register_candidate(client, name, run.info.run_id)
    os.killpg(stack.pid("mlflow"), signal.SIGKILL)  # ... because MLflow went down
    with pytest.raises(Exception):  # noqa: B017 -- whatever the client raises, the task fails and retries
        registry.publish(uri, name, run.info.run_id, lineage, decision)

    stack.up()  # MLflow back (SQLite backend and artifacts persisted)
    out = registry.publish(uri, name, run.info.run_id, lineage, decision)  # the task's retry
    versions = client.search_model_versions(f"name='{name}'")
    assert [v.version for v in versions] == [half] and out["version"] == half, "a second version was registered"
    v = client.get_model_version(name, half)
    assert v.tags["gate.decision"] == "promote" and v.tags["lakefs.commit"] == "c0ffee"
    for alias in ("champion", "challenger"):  # every alias points at a version that exists
        assert client.get_model_version_by_alias(name, alias).version == half
