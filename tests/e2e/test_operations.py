"""Recovery from the UI: roll the champion back, refuse an unknown version, revert data on main."""

from __future__ import annotations

from include.retrain import lakefs_io, nightly
from include.retrain.driver import run_dag
from tests.e2e.conftest import CAST, champion_of, main_head, repository, run_date


def _trigger(stack, dag_id: str, conf: dict) -> dict:
    return run_dag(stack, dag_id, None, conf=conf, timeout=300)


def test_rollback_to_previous_records_who_why_when(stack, cast_nights, mlflow_client):
    # a forced promotion makes sure an earlier promoted version exists, whatever the gate said before
    nightly.seed(stack, CAST, "2026-11-07", per_class=30)
    run, summary = run_date(stack, CAST, "2026-11-07", {"force_promote": True})
    assert run["state"] == "success" and "champion" in summary["model"]["aliases"]
    current = champion_of(mlflow_client, CAST).version
    assert current == summary["model"]["version"]
    run = _trigger(
        stack, "rollback_model", {"dataset": CAST.name, "version": "previous", "reason": "false rejects on line 3"}
    )
    assert run["state"] == "success"
    moved = champion_of(mlflow_client, CAST)
    assert int(moved.version) < int(current)
    assert moved.tags["gate.decision"] == "promote"
    assert moved.tags["rollback.reason"] == "false rejects on line 3"
    assert moved.tags["rollback.by"] == stack.creds.airflow_username
    assert moved.tags["rollback.from_version"] == current and moved.tags["rollback.at"]
    old = mlflow_client.get_model_version(CAST.model_name, current)
    assert "false rejects on line 3" in old.tags["rolled_back.reason"]


def test_rollback_to_an_unknown_version_is_refused(stack, cast_nights, mlflow_client):
    before = champion_of(mlflow_client, CAST).version
    run = _trigger(stack, "rollback_model", {"dataset": CAST.name, "version": "999", "reason": "typo test"})
    assert run["state"] == "failed"
    assert champion_of(mlflow_client, CAST).version == before
    api = stack.airflow_api()
    log = api.task_log("rollback_model", run["dag_run_id"], "move_champion", 1)
    assert "rollback refused: model 'cast_metal' has no version '999'" in log


def test_revert_data_creates_a_revert_commit_on_main(stack, cast_nights, clt):
    repo = repository(clt, CAST)
    last = cast_nights[-1]["commit"]  # the merge of the last night
    date = "2026-11-03"
    assert any(
        p.startswith(f"data/dt={date}/") for p, _, _ in lakefs_io.list_paths(clt, CAST.repository, last, "data/")
    )
    run = _trigger(stack, "revert_data", {"dataset": CAST.name, "commit": last, "reason": "mislabelled batch"})
    assert run["state"] == "success"
    head = main_head(repo)
    commit = repo.commit(head).get_commit()
    assert commit.metadata["revert.reason"] == "mislabelled batch"
    assert commit.metadata["revert.commit"] == last
    assert not [p for p, _, _ in lakefs_io.list_paths(clt, CAST.repository, head, f"data/dt={date}/")]
    out = stack.airflow_api().xcom("revert_data", run["dag_run_id"], "revert_commit")
    assert out["commit"] == head
