"""The smoke DAG end to end: through the scheduler (REST API) and through `airflow dags test`."""

import os
import subprocess
import sys
from pathlib import Path

from devstack import smoke
from include.retrain.lake import lakefs_io

ROOT = Path(__file__).resolve().parents[2]


def _check_lineage(stack, summary):
    clt = lakefs_io.client(stack.lakefs_endpoint())
    import lakefs
    from mlflow import MlflowClient

    repo = lakefs.Repository(summary["repository"], client=clt)
    commit = repo.commit(summary["commit"]).get_commit()
    assert commit.metadata["airflow.dag_id"] == "smoke_platform"
    assert commit.metadata["source.uri"] == f"s3://{summary['bucket']}/{summary['key']}"
    data = repo.commit(summary["commit"]).object(f"data/{summary['key']}").reader().read()
    assert data.startswith(b"asset_id,timestamp")
    run = MlflowClient(stack.config.url("mlflow")).get_run(summary["mlflow_run_id"])
    assert run.data.tags["lakefs.commit"] == summary["commit"]
    assert run.data.tags["ray.submission_id"] == summary["ray_submission_id"]
    assert run.data.metrics["ray_sum_of_squares"] == sum(i * i for i in range(8))


def test_smoke_run_through_scheduler_and_triggerer(stack):
    said: list[str] = []
    stack.out = said.append
    assert smoke.run_smoke(stack, "2026-11-02", timeout=600) == 0, "\n".join(said)
    assert any("SUCCESS" in line for line in said)
    api = stack.airflow_api()
    run = api.request("GET", "dags/smoke_platform/dagRuns", params={"order_by": "-start_date"}).json()["dag_runs"][0]
    summary = api.xcom("smoke_platform", run["dag_run_id"], "summarize")
    assert summary["ray_status"] == "SUCCEEDED"
    _check_lineage(stack, summary)
    # the smoke job defers at once: the trigger streams the job's log into the task log, the lines
    # after its stream was cut at the job's end included
    log = api.task_log("smoke_platform", run["dag_run_id"], "run_ray_job", 1)
    assert "deferring to the triggerer" in log, log[-3000:]
    assert "tasks ran on" in log and "RETRAIN_RESULT" in log, log[-3000:]


def test_tasks_fork_from_workers_of_a_one_thread_forkserver_that_imported_their_libraries(stack):
    """The scheduler's LocalExecutor starts its workers from a forkserver that imported the tasks'
    libraries (devstack TASK_LIBRARIES), and forking it is safe: it runs one thread. Runs after the
    smoke run above, so the workers exist."""
    from devstack.processes import group_members, parent

    servers = []
    for pid in group_members(stack.pid("airflow-scheduler")):
        try:
            if b"multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                servers.append(pid)
        except FileNotFoundError:
            continue
    assert len(servers) == 1, servers
    (server,) = servers
    assert os.listdir(f"/proc/{server}/task") == [str(server)], "the forkserver runs more than one thread"
    # a fresh interpreter that maps pyarrow's library: the preload ran (pandas and GX load it)
    assert "libarrow" in Path(f"/proc/{server}/maps").read_text()
    workers = [p for p in group_members(stack.pid("airflow-scheduler")) if parent(p) == server]
    assert workers, "no LocalExecutor worker came from the forkserver"


def test_smoke_run_with_airflow_dags_test(stack, tmp_path):
    date = "2026-11-03"
    smoke.seed_landing(stack, date)
    env = {
        **os.environ,
        **stack.connection_env(),
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(ROOT),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [airflow, "dags", "test", "smoke_platform", f"{date}T00:00:00+00:00"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = out.stdout + out.stderr
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "smoke-dags-test.log").write_text(log)
    assert out.returncode == 0, log[-3000:]
    assert "DagRun Finished" in log and "state=success" in log, log[-3000:]
    secrets = stack.creds.secret_values()
    assert not [s for s in secrets if s in log], "a generated secret appeared in the task log"
    assert "[ray airflow-smoke_platform-run_ray_job" in log, "the Ray job's log was not streamed"


def test_smoke_left_no_run_branch_in_lakefs(stack):
    import lakefs

    clt = lakefs_io.client(stack.lakefs_endpoint())
    assert [b.id for b in lakefs.Repository("smoke", client=clt).branches()] == ["main"]
