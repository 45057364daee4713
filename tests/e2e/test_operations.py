"""Recovery from the UI: roll the champion back, refuse an unknown version, revert data on main."""

from __future__ import annotations

import time

import psutil

from devstack import nightly
from devstack.nightly import run_dag
from include.retrain.lake import lakefs_io
from tests.e2e.conftest import CAST, champion_of, main_head, repository, run_date, wait_for_backfill_runs


def _trigger(stack, dag_id: str, conf: dict) -> dict:
    return run_dag(stack, dag_id, None, conf=conf, timeout=300)


def _clear_task(stack, run_id: str, task_id: str) -> dict:
    """The UI's Clear on one task (no downstream), then the run to its end; returns the task's new result."""
    api = stack.airflow_api()
    body = {"dry_run": False, "task_ids": [task_id], "dag_run_id": run_id, "only_failed": False}
    api.request("POST", f"dags/{CAST.dag_id}/clearTaskInstances", json=body)
    api.wait_for_run(CAST.dag_id, run_id, timeout=600)
    return dict(api.xcom(CAST.dag_id, run_id, task_id))


def test_a_cleared_evaluate_rescores_against_the_current_champion_and_a_cleared_train_trains_again(
    stack, cast_nights, mlflow_client
):
    first = cast_nights[0]["run_id"]
    api = stack.airflow_api()
    evaluated, trained = api.xcom(CAST.dag_id, first, "evaluate"), api.xcom(CAST.dag_id, first, "train")
    champion = champion_of(mlflow_client, CAST).version
    again = _clear_task(stack, first, "evaluate")
    assert again["submission_id"] != evaluated["submission_id"] and again["action"] == "submitted"
    assert again["result"]["champion_version"] == champion  # scored against today's champion
    retrained = _clear_task(stack, first, "train")
    assert retrained["action"] == "submitted" and retrained["result"]["run_id"] != trained["result"]["run_id"]


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


def test_backfill_of_five_dates_with_three_active_runs_loses_nothing_and_the_champion_is_deterministic(
    stack, cast_nights, clt, mlflow_client
):
    """A backfill after an outage: every date ingests its own partition, merges never lose data,
    and no backfill run moves the champion: the next scheduled run trains once on all of it."""
    dates = [f"2026-10-0{d}" for d in range(1, 6)]
    for date in dates:
        nightly.seed(stack, CAST, date, per_class=6)
    api, repo = stack.airflow_api(), repository(clt, CAST)
    before, champion_before = main_head(repo), champion_of(mlflow_client, CAST).version
    window = (nightly.logical_date(CAST, dates[0]), nightly.logical_date(CAST, dates[-1]))
    planned = api.backfill(CAST.dag_id, *window, max_active_runs=3, dry_run=True)
    assert len(planned["backfills"]) == 5
    backfill = api.backfill(CAST.dag_id, *window, max_active_runs=3)  # default params: no ingest_only
    assert backfill["max_active_runs"] == 3
    runs, most_running = wait_for_backfill_runs(stack, CAST.dag_id, dates, timeout=900)
    assert [r["state"] for r in runs] == ["success"] * 5, runs  # 0 conflicts: no merge failed
    assert 2 <= most_running <= 3  # runs overlapped, and never more than the backfill allows
    # five merge commits on main, one per run, each naming its run; the data of every date is there
    new = []
    for c in repo.branch("main").log(max_amount=50):
        if c.id == before:
            break
        new.append(c)
    merges = [c.metadata.get("airflow.run_id") for c in new if c.message.startswith("merge ")]
    assert sorted(merges) == sorted(r["dag_run_id"] for r in runs)
    head = main_head(repo)
    for date in dates:
        assert lakefs_io.list_paths(clt, CAST.repository, head, f"data/dt={date}/"), f"{date} lost"
    assert [b.id for b in repo.branches() if b.id.startswith("ingest-")] == []  # every run branch is gone
    # whatever order the runs finished in, none trained: the champion did not move
    for r in runs:
        reason = api.xcom(CAST.dag_id, r["dag_run_id"], "summarize")["training"]["reason"]
        assert reason.startswith("backfill run"), reason
    assert champion_of(mlflow_client, CAST).version == champion_before

    # the next nightly run trains once, on main holding every backfilled date
    nightly.seed(stack, CAST, "2026-10-10", per_class=6)
    run, summary = run_date(stack, CAST, "2026-10-10")
    assert run["state"] == "success" and summary["training"].get("mlflow_run_id"), summary
    version = mlflow_client.get_model_version(CAST.model_name, summary["model"]["version"])
    trained_on = version.tags["lakefs.commit"]
    for date in [*dates, "2026-10-10"]:
        assert lakefs_io.list_paths(clt, CAST.repository, trained_on, f"data/dt={date}/"), date
    promoted = summary["gate"]["decision"] == "promote"
    assert champion_of(mlflow_client, CAST).version == (version.version if promoted else champion_before)


def test_a_killed_task_process_is_retried_and_the_retry_is_idempotent(stack, clt):
    """SIGKILL the process of a running ``ingest`` (as the OOM killer would): Airflow retries it,
    and the retry finishes the copy without duplicates; main gets exactly one merge of the date."""
    date = "2026-10-20"
    landed = nightly.seed(stack, CAST, date, per_class=300)  # big enough to be caught mid-copy
    api, repo = stack.airflow_api(), lakefs_io.ensure_repository(clt, CAST.repository)
    api.wait_for_dag(CAST.dag_id)
    api.unpause(CAST.dag_id)
    run = api.trigger(CAST.dag_id, nightly.logical_date(CAST, date), conf={"ingest_only": True})
    run_id = run["dag_run_id"]
    branch = lakefs_io.run_branch_name(CAST.dag_id, run_id)
    path = f"dags/{CAST.dag_id}/dagRuns/{run_id}/taskInstances/ingest"
    killed, deadline = None, time.monotonic() + 300
    while killed is None:
        assert time.monotonic() < deadline, "ingest never ran"
        ti = api.request("GET", path, ok=(200, 404)).json()
        assert ti.get("state") not in ("success", "failed"), "ingest finished before it could be killed"
        started = ti.get("state") == "running" and ti.get("pid") and lakefs_io.branch_exists(repo, branch)
        if started and lakefs_io.list_paths(clt, CAST.repository, branch, f"data/dt={date}/"):
            proc = psutil.Process(ti["pid"])
            assert proc.cmdline()[0] == f"airflow worker -- {ti['id']}", proc.cmdline()  # the task runner
            proc.kill()
            killed = ti["try_number"]
        time.sleep(0.1)

    done = api.wait_for_run(CAST.dag_id, run_id, timeout=600)
    assert done["state"] == "success", done
    ti = api.request("GET", path).json()
    assert ti["try_number"] == killed + 1, "the killed try was not retried"
    head = main_head(repo)
    on_main = lakefs_io.list_paths(clt, CAST.repository, head, f"data/dt={date}/")
    assert len(on_main) == landed, f"{len(on_main)} objects on main, {landed} landed"  # all, once each
    merges = [c for c in repo.branch("main").log(max_amount=10) if c.message.startswith("merge ")]
    assert [c.metadata.get("airflow.run_id") for c in merges].count(run_id) == 1
    assert merges[0].id == head and merges[0].metadata["airflow.run_id"] == run_id
    assert not lakefs_io.branch_exists(repo, branch)
