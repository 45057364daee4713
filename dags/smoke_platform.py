"""
### Platform smoke test

Proves every link of the retraining chain through Airflow, with one small object:

1. **read_landing_object** -- find this run's object in the S3 landing zone (amazon provider, `aws_landing`).
2. **publish_to_lakefs** -- stream it to a run branch in lakeFS, commit with lineage metadata, merge into `main`.
3. **run_ray_job** -- submit a tiny Ray job through the Jobs API (`ray_default`), deferrable.
4. **log_mlflow_run** -- record the lakeFS commit and the Ray job in MLflow (`mlflow_default`).
5. **summarize** -- one dict with every id and link (also what `make run` prints).

Trigger it with `make run`, or from the UI with `landing_date` set to a partition that exists.
"""

# TaskFlow calls return XComArgs where the functions declare values: not a mypy-able contract.
# mypy: disable-error-code="call-arg,arg-type"
from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from include.retrain.adapters.ray_operator import RayJobOperator

_LANDING_BUCKET = os.environ.get("LANDING_BUCKET", "landing")
_OWNER = os.environ.get("RETRAIN_OWNER", "data-platform")


@dag(
    dag_id="smoke_platform",
    doc_md=__doc__,
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    max_active_runs=1,
    default_args={"owner": _OWNER, "retries": 1, "retry_delay": timedelta(seconds=15)},
    tags=["platform", "smoke"],
    params={
        "landing_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Partition dt=YYYY-MM-DD of s3://<landing>/smoke/ to read; empty means the run's date.",
        ),
    },
)
def smoke_platform() -> None:
    @task
    def read_landing_object(params: dict[str, Any], ds: str) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from include.retrain.smoke_steps import LANDING_PREFIX

        date = params.get("landing_date") or ds
        prefix = f"{LANDING_PREFIX}/dt={date}/"
        hook = S3Hook(aws_conn_id="aws_landing")
        keys = hook.list_keys(bucket_name=_LANDING_BUCKET, prefix=prefix)
        if not keys:
            raise ValueError(f"no object under s3://{_LANDING_BUCKET}/{prefix}: run `make run` to seed it")
        head = hook.head_object(key=keys[0], bucket_name=_LANDING_BUCKET)
        return {"bucket": _LANDING_BUCKET, "key": keys[0], "size": head["ContentLength"]}

    @task
    def publish_to_lakefs(obj: dict[str, Any], dag_run: Any) -> dict[str, str]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from include.retrain import smoke_steps
        from include.retrain.adapters.connections import lakefs_endpoint
        from include.retrain.adapters.dag_run import lineage
        from include.retrain.lake import lakefs_io

        body = S3Hook(aws_conn_id="aws_landing").get_key(obj["key"], obj["bucket"]).get()["Body"]
        run = lineage(dag_run)
        metadata = {**run.commit_metadata(), "source.uri": f"s3://{obj['bucket']}/{obj['key']}", "source.objects": "1"}
        branch = lakefs_io.run_branch_name(run.dag_id, run.run_id)
        return smoke_steps.publish_object(lakefs_endpoint(), body, f"data/{obj['key']}", metadata, branch)

    run_ray_job = RayJobOperator(
        task_id="run_ray_job",
        entrypoint="python -m include.retrain.jobs.fanout --n 8",
        entrypoint_num_cpus=0.5,
        defer_after=0,  # the smoke run goes through the triggerer, however short the job
    )

    @task
    def log_mlflow_run(published: dict[str, str], ray: dict[str, Any], run_id: str) -> dict[str, str]:
        from include.retrain import smoke_steps
        from include.retrain.adapters.connections import mlflow_url

        return smoke_steps.log_mlflow_run(
            mlflow_url(), published["commit"], ray["submission_id"], ray["result"], run_id
        )

    @task
    def summarize(
        obj: dict[str, Any], published: dict[str, str], ray: dict[str, Any], mlflow_run: dict[str, str]
    ) -> dict[str, Any]:
        return {
            **obj,
            **published,
            "ray_submission_id": ray["submission_id"],
            "ray_status": ray["status"],
            "ray_sum_of_squares": ray["result"].get("sum_of_squares"),
            "experiment_id": mlflow_run["experiment_id"],
            "mlflow_run_id": mlflow_run["run_id"],
        }

    obj = read_landing_object()
    published = publish_to_lakefs(obj)
    published >> run_ray_job
    mlflow_run = log_mlflow_run(published, run_ray_job.output)
    summarize(obj, published, run_ray_job.output, mlflow_run)


smoke_platform()
