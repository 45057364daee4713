"""The product's promises, enforced where the data and the models live (real lakeFS and MLflow).

* lakeFS itself refuses a direct write or commit to main and an unvalidated merge into it;
* refused files stay readable in lakeFS with their reasons, never on main;
* training refuses non-finite values and unknown labels with the files named;
* only "no such alias" means "no champion"; any other registry error is an error;
* a cleared old run cannot move ``champion`` away from a version a rollback chose.
"""

from __future__ import annotations

import io
import json
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from devstack import generate
from devstack.stack_config import free_ports
from include.retrain import steps
from include.retrain.handoffs import GateDecision, RunLineage
from include.retrain.lake import lakefs_io
from tests.integration.conftest import dataset_copy

GUARD = dataset_copy("pump_fleet", "guarded_sensor", max_bad_fraction=0.5)


def _promote() -> GateDecision:
    """A passing gate decision, evaluated now."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    return {
        "promote": True,
        "decision": "promote",
        "reason": "test",
        "forced": False,
        "compared_with": None,
        "evaluated_at": now,
    }


def _land(stack, date: str, **gen) -> list[generate.GeneratedFile]:
    files = generate.sensor_partition(GUARD, date, assets=2, rows_per_segment=256, **gen)
    generate.write(files, GUARD.landing.prefix, s3=stack.s3_client(), bucket=GUARD.landing.bucket)
    return files


def _publish(stack, endpoint, date: str, run_id: str) -> tuple[dict, dict]:
    lineage = RunLineage(GUARD.dag_id, run_id, date)
    ingested = steps.ingest(GUARD, stack.s3_client(), date, endpoint, lineage)
    validated = steps.validate(GUARD, endpoint, ingested, lineage)
    return validated, dict(steps.publish_data(GUARD, endpoint, ingested, validated, lineage))


def test_lakefs_refuses_direct_writes_and_unvalidated_merges_into_main(stack, endpoint):
    import lakefs
    from lakefs.exceptions import LakeFSException

    from include.retrain.lake import guard

    _land(stack, "2025-04-01")
    _, published = _publish(stack, endpoint, "2025-04-01", "guard__first")  # the pipeline's own merge passes
    time.sleep(guard.SETTINGS_CACHE_SECONDS)  # lakeFS caches a new protection rule for a few seconds
    clt = lakefs_io.client(endpoint)
    repo = lakefs.Repository(GUARD.repository, client=clt)
    head = str(repo.branch("main").head.get_commit().id)
    assert head == published["commit"]
    with pytest.raises(LakeFSException):  # a direct write to main
        repo.branch("main").object("data/dt=2025-04-01/sneaked-in.parquet").upload(data=b"x")
    side = repo.branch("unvalidated").create(source_reference="main")
    side.object("data/dt=2025-04-01/sneaked-in.parquet").upload(data=b"x")
    side.commit(message="no validation")
    with pytest.raises(LakeFSException) as refused:  # a merge without a validation report
        side.merge_into(repo.branch("main"), message="sneak it in")
    assert "validation" in str(refused.value).lower(), str(refused.value)
    assert str(repo.branch("main").head.get_commit().id) == head


def test_quarantined_files_stay_readable_in_lakefs_with_their_reasons_and_never_on_main(stack, endpoint):
    files = _land(stack, "2025-04-02", bad=["nan"])
    validated, published = _publish(stack, endpoint, "2025-04-02", "guard__quarantine")
    (bad,) = [f for f in files if f.planted]
    path = f"data/{bad.key}"
    assert validated["quarantined"] == [path]
    clt = lakefs_io.client(endpoint)
    on_main = {p for p, _, _ in lakefs_io.list_paths(clt, GUARD.repository, published["commit"], "data/")}
    assert path not in on_main
    where = validated["quarantine"]  # the report names where the refused files are kept
    assert lakefs_io.read_bytes(clt, GUARD.repository, where["ref"], where["paths"][path]) == bad.body
    reasons = json.loads(lakefs_io.read_bytes(clt, GUARD.repository, where["ref"], where["report"]))
    (entry,) = [f for f in reasons["files"] if not f["ok"]]
    assert entry["path"] == bad.key and entry["reasons"][0].startswith("null values")


def test_training_data_with_non_finite_values_or_unknown_labels_is_refused_with_the_file_named(stack, endpoint):
    import lakefs

    from include.retrain.ml import dataset

    clt = lakefs_io.client(endpoint)
    repo = lakefs_io.ensure_repository(clt, f"poisoned-{uuid.uuid4().hex[:6]}")
    branch = lakefs.Repository(repo.id, client=clt).branch("poisoned").create(source_reference="main")
    good = generate.sensor_partition(GUARD, "2025-04-03", assets=3, rows_per_segment=256)
    for f in good:
        branch.object(f"data/{f.key}").upload(data=f.body)
    table = pd.read_parquet(io.BytesIO(good[0].body))
    table.loc[5, "vibration_x"] = np.inf
    branch.object("data/dt=2025-04-03/poisoned.parquet").upload(data=generate.to_parquet(table))
    commit = str(branch.commit(message="slipped past validation").get_commit().id)
    ds = GUARD.model_copy(update={"name": repo.id.replace("-", "_")})
    with pytest.raises(ValueError, match=r"poisoned\.parquet.*non-finite"):
        dataset.load_splits(ds, commit, clt)
    table = pd.read_parquet(io.BytesIO(good[1].body))
    table.loc[:10, "label"] = "cavitation"
    branch.object("data/dt=2025-04-03/poisoned.parquet").upload(data=generate.to_parquet(table))
    commit = str(branch.commit(message="an unknown label").get_commit().id)
    with pytest.raises(ValueError, match=r"poisoned\.parquet.*unknown labels \['cavitation'\]"):
        dataset.load_splits(ds, commit, clt)


def _model_run(uri: str) -> str:
    import mlflow
    import torch

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("retrain/guarded_model")
    with mlflow.start_run() as run:
        mlflow.pytorch.log_model(
            torch.nn.Linear(3, 2), name="model", input_example=torch.zeros(1, 3).numpy(), pip_requirements=["torch"]
        )
    return str(run.info.run_id)


def test_a_cleared_old_run_cannot_undo_a_rollback(stack):
    from mlflow import MlflowClient

    from include.retrain.release import registry

    uri, name = stack.config.url("mlflow"), f"guarded_{uuid.uuid4().hex[:6]}"
    runs = [_model_run(uri) for _ in range(2)]
    tags = {"lakefs.commit": "c0ffee"}
    v1 = registry.publish(uri, name, runs[0], tags, _promote())["version"]
    decision = _promote()  # v2's gate: evaluated after v1 became champion
    v2 = registry.publish(uri, name, runs[1], tags, decision)["version"]
    assert MlflowClient(uri).get_model_version_by_alias(name, "champion").version == v2
    registry.rollback(uri, name, v1, "v2 misses defects on line 3", "operator")
    registry.publish(uri, name, runs[1], tags, decision)  # v2's promote task, cleared: the same XCom
    assert MlflowClient(uri).get_model_version_by_alias(name, "champion").version == v1, f"v{v2} took it back"


def test_a_registry_error_is_an_error_not_a_missing_champion(stack, monkeypatch):
    from include.retrain.release import registry

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = stack.config.url("mlflow")
    assert registry.champion_version(uri, f"never_registered_{uuid.uuid4().hex[:6]}") is None  # no such model
    down = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing answers there
    with pytest.raises(Exception, match=r"(?i)connect|refused|max retries"):
        registry.champion_version(down, "guarded_model")
    with pytest.raises(Exception, match=r"(?i)connect|refused|max retries"):
        registry.champion_commit(down, "guarded_model")
