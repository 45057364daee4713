"""URLs into the lakeFS and MLflow UIs, shared by the task extra links and the run summary.

Pure functions of identifiers: a link is right when its URL is, which the unit tests check.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

LAKEFS_BRANCH = "lakeFS branch"
LAKEFS_DIFF = "lakeFS diff vs main"
LAKEFS_COMMIT = "lakeFS commit"
VALIDATION_REPORT = "Validation report"
MLFLOW_RUN = "MLflow run"
MLFLOW_MODEL = "MLflow model version"
MODEL_CARD = "Model card"
ALL = (LAKEFS_BRANCH, LAKEFS_DIFF, LAKEFS_COMMIT, VALIDATION_REPORT, MLFLOW_RUN, MLFLOW_MODEL, MODEL_CARD)
MAIN = "main"
COCKPIT = "/retraining"  # where the plugin mounts the Retraining cockpit on Airflow's api-server


def _repo(base: str, repository: str) -> str:
    return f"{base.rstrip('/')}/repositories/{quote(repository, safe='')}"


def lakefs_branch(base: str, repository: str, branch: str) -> str:
    return f"{_repo(base, repository)}/objects?{urlencode({'ref': branch})}"


def lakefs_diff(base: str, repository: str, branch: str, against: str = MAIN) -> str:
    return f"{_repo(base, repository)}/compare?{urlencode({'ref': against, 'compare': branch})}"


def lakefs_commit(base: str, repository: str, commit: str) -> str:
    return f"{_repo(base, repository)}/commits/{quote(commit, safe='')}"


def lakefs_object(base: str, repository: str, ref: str, path: str) -> str:
    return f"{_repo(base, repository)}/object?{urlencode({'ref': ref, 'path': path})}"


def airflow_run(base: str, dag_id: str, run_id: str) -> str:
    """A DAG run's page in the Airflow UI."""
    return f"{base.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id, safe='')}"


def mlflow_run(base: str, experiment_id: str, run_id: str) -> str:
    return f"{base.rstrip('/')}/#/experiments/{quote(str(experiment_id))}/runs/{quote(run_id)}"


def mlflow_artifact(base: str, experiment_id: str, run_id: str, path: str) -> str:
    """An artifact of a run, opened in the MLflow UI's viewer (HTML is rendered there)."""
    return f"{mlflow_run(base, experiment_id, run_id)}/artifactPath/{quote(path)}"


def mlflow_model(base: str, name: str, version: str | int) -> str:
    return f"{base.rstrip('/')}/#/models/{quote(name, safe='')}/versions/{version}"


def task_links(
    names: tuple[str, ...],
    *,
    lakefs_url: str,
    mlflow_url: str,
    repository: str,
    branch: str,
    report: str,
    result: dict[str, Any] | None,
    failed: bool,
) -> dict[str, str]:
    """The links ``names`` of one task instance; a link whose target is unknown is left out.

    ``result`` is the task's return value (None when it failed): ``commit`` for lakeFS, a Ray
    job's ``result.run_id`` / ``experiment_id`` for MLflow, ``name`` and ``version`` for a model.
    A failed validation keeps its branch, so its report is linked there; otherwise on main. A night
    with nothing to do (``result["nothing_to_do"]``, from ingest) deleted its run branch: the branch
    link shows main, and there is no diff to link.
    """
    r: dict[str, Any] = result or {}
    if r.get("nothing_to_do"):
        branch = MAIN
    job: dict[str, Any] = r["result"] if isinstance(r.get("result"), dict) else {}
    run = job if job.get("run_id") else r
    out: dict[str, str] = {}
    for name in names:
        url = None
        if name == LAKEFS_BRANCH:
            url = lakefs_branch(lakefs_url, repository, branch)
        elif name == LAKEFS_DIFF and branch != MAIN:
            url = lakefs_diff(lakefs_url, repository, branch)
        elif name == LAKEFS_COMMIT and (r.get("commit") or job.get("commit")):
            url = lakefs_commit(lakefs_url, repository, str(r.get("commit") or job.get("commit")))
        elif name == VALIDATION_REPORT:
            url = lakefs_object(lakefs_url, repository, branch if failed else MAIN, report)
        elif name == MLFLOW_RUN and run.get("run_id") and run.get("experiment_id") is not None:
            url = mlflow_run(mlflow_url, str(run["experiment_id"]), str(run["run_id"]))
        elif name == MLFLOW_MODEL and r.get("name") and r.get("version"):
            url = mlflow_model(mlflow_url, str(r["name"]), r["version"])
        elif name == MODEL_CARD and r.get("card_url"):
            url = str(r["card_url"])
        elif name not in ALL:
            raise ValueError(f"unknown link {name!r}; known: {', '.join(ALL)}")
        if url:
            out[name] = url
    return out
