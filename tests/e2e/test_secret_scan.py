"""After every other e2e test: no generated secret leaked into what the runs left behind.

Scans the task logs of every DAG run (Airflow's API), every MLflow run's params and tags and
every model version's tags, lakeFS commit metadata of every repository, and the service logs.
Runs late (marker ``scan_late``), so it sees the runs of the whole session.
"""

from __future__ import annotations

import lakefs
import pytest

pytestmark = pytest.mark.scan_late


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [f"{s[:3]}..." for s in secrets if s and s in text]


def test_no_generated_secret_in_task_logs_mlflow_or_lakefs(stack, clt, mlflow_client):
    secrets = stack.creds.secret_values()
    assert len(secrets) >= 8 and all(len(s) >= 16 for s in secrets)
    api, found, scanned = stack.airflow_api(), {}, {"task logs": 0, "mlflow runs": 0, "lakefs commits": 0}

    dags = [d["dag_id"] for d in api.request("GET", "dags", params={"limit": 100}).json()["dags"]]
    for dag_id in dags:
        for run in api.runs(dag_id):
            for ti in api.task_instances(dag_id, run["dag_run_id"]):
                for attempt in range(1, (ti.get("try_number") or 0) + 1):
                    log = api.task_log(dag_id, run["dag_run_id"], ti["task_id"], attempt)
                    scanned["task logs"] += 1
                    if leaks := _leaks(log, secrets):
                        found[f"log {dag_id}/{run['dag_run_id']}/{ti['task_id']}#{attempt}"] = leaks

    for exp in mlflow_client.search_experiments():
        for run in mlflow_client.search_runs([exp.experiment_id], max_results=1000):
            scanned["mlflow runs"] += 1
            text = repr(run.data.params) + repr(run.data.tags)
            if leaks := _leaks(text, secrets):
                found[f"mlflow run {run.info.run_id}"] = leaks
    for model in mlflow_client.search_registered_models():
        for mv in mlflow_client.search_model_versions(f"name='{model.name}'"):
            if leaks := _leaks(repr(mv.tags), secrets):
                found[f"model {model.name} v{mv.version}"] = leaks

    for repo in lakefs.repositories(client=clt):
        for branch in repo.branches():
            for commit in branch.log(max_amount=500):
                scanned["lakefs commits"] += 1
                if leaks := _leaks(commit.message + repr(commit.metadata), secrets):
                    found[f"lakefs {repo.id}@{commit.id[:12]}"] = leaks

    for log in sorted((stack.state / "logs").glob("*.log")):
        if leaks := _leaks(log.read_text(errors="replace"), secrets):
            found[f"service log {log.name}"] = leaks

    assert scanned["task logs"] > 50 and scanned["mlflow runs"] > 10 and scanned["lakefs commits"] > 10, scanned
    assert not found, f"generated secrets found in: {found}"
