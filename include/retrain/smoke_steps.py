"""The steps of the platform smoke test (DAG ``smoke_platform``): one object through every link.

landing (S3) -> lakeFS branch, commit, merge -> Ray job (Jobs API) -> MLflow run.
``devstack/smoke.py`` drives it through a running local stack (``make smoke``).
"""

from __future__ import annotations

from typing import IO, Any

from .lake import lakefs_io
from .lake.lakefs_io import LakeFSEndpoint

DAG_ID = "smoke_platform"
REPOSITORY = "smoke"
LANDING_PREFIX = "smoke"


def publish_object(
    endpoint: LakeFSEndpoint, body: IO[bytes], path: str, metadata: dict[str, str], branch_name: str
) -> dict[str, str]:
    """Write one object to a run branch, commit it with ``metadata``, merge into main, drop the branch.

    Returns:
        ``{"repository", "branch", "commit"}`` where ``commit`` is main's head after the merge.
    """
    clt = lakefs_io.client(endpoint)
    repo = lakefs_io.ensure_repository(clt, REPOSITORY)
    branch = lakefs_io.ensure_branch(repo, branch_name)
    lakefs_io.upload(branch, path, body, content_type="text/csv")
    lakefs_io.commit_if_changed(branch, f"smoke: ingest {path}", metadata)
    commit = lakefs_io.merge_into_main(repo, branch, f"smoke: merge {branch_name}", metadata)
    lakefs_io.delete_branch(repo, branch_name)
    return {"repository": REPOSITORY, "branch": branch_name, "commit": commit}


def log_mlflow_run(
    tracking_uri: str, lakefs_commit: str, ray_submission_id: str, ray_result: dict[str, Any], airflow_run_id: str
) -> dict[str, str]:
    """Record the smoke run in MLflow experiment ``smoke``; returns its experiment and run ids."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.set_experiment("smoke")
    with mlflow.start_run(run_name=f"smoke {airflow_run_id}") as run:
        mlflow.set_tags(
            {
                "lakefs.repo": REPOSITORY,
                "lakefs.commit": lakefs_commit,
                "airflow.dag_id": DAG_ID,
                "airflow.run_id": airflow_run_id,
                "ray.submission_id": ray_submission_id,
            }
        )
        mlflow.log_metric("ray_sum_of_squares", float(ray_result.get("sum_of_squares", -1)))
    return {"experiment_id": experiment.experiment_id, "run_id": run.info.run_id}
