"""Our helpers against the real lakeFS, MLflow, Ray and S3 of the session stack."""

import uuid

import pytest

from include.retrain.jobs import submission
from include.retrain.lake import lakefs_io


@pytest.fixture(scope="module")
def lakefs_endpoint(stack):
    return stack.lakefs_endpoint()


def test_lakefs_branch_commit_merge_and_idempotent_rerun(lakefs_endpoint):
    clt = lakefs_io.client(lakefs_endpoint)
    repo = lakefs_io.ensure_repository(clt, f"it-{uuid.uuid4().hex[:8]}")
    assert lakefs_io.ensure_repository(clt, repo.id).id == repo.id  # exists: no error

    def publish() -> str:
        name = lakefs_io.run_branch_name("it_dag", "manual__2026-11-01T00:00:00+00:00")
        branch = lakefs_io.ensure_branch(repo, name)
        lakefs_io.upload(branch, "data/dt=2026-11-01/a.csv", b"x,y\n1,2\n")
        lakefs_io.commit_if_changed(branch, "ingest", {"airflow.run_id": "manual__1"})
        head = lakefs_io.merge_into_main(repo, branch, "merge", {"airflow.run_id": "manual__1"})
        lakefs_io.delete_branch(repo, name)
        return head

    first = publish()
    commits_after_first = [c.id for c in repo.branch("main").log(max_amount=20)]
    second = publish()  # same content again: no new commit on main
    assert second == first
    assert [c.id for c in repo.branch("main").log(max_amount=20)] == commits_after_first
    assert repo.branch("main").object("data/dt=2026-11-01/a.csv").reader().read() == b"x,y\n1,2\n"
    assert [b.id for b in repo.branches()] == ["main"]  # the run branch was deleted


def test_mlflow_logs_and_reads_back_a_run(stack):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(stack.config.url("mlflow"))
    mlflow.set_experiment("integration")
    with mlflow.start_run() as run:
        mlflow.log_param("p", "1")
        mlflow.log_metric("m", 0.5)
        mlflow.log_text("hello", "notes/hello.txt")
    got = MlflowClient(stack.config.url("mlflow")).get_run(run.info.run_id)
    assert got.data.metrics["m"] == 0.5
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello"


def test_ray_job_through_the_jobs_api_is_idempotent(stack):
    client = submission.job_client(stack.config.url("ray_dashboard"), stack.ray_token())
    sub = submission.submission_id("it_dag", f"manual__{uuid.uuid4().hex[:6]}", "ray")
    entry = "python -m include.retrain.jobs.fanout --n 4"
    assert submission.submit_or_reattach(client, sub, entry, submission.runtime_env()) == "submitted"
    assert submission.submit_or_reattach(client, sub, entry, submission.runtime_env()) in ("reattached", "reused")
    import time

    deadline = time.monotonic() + 120
    while submission.job_status(client, sub) not in submission.TERMINAL and time.monotonic() < deadline:
        time.sleep(1)
    assert submission.job_status(client, sub) == "SUCCEEDED", client.get_job_logs(sub)
    assert submission.parse_result(client.get_job_logs(sub))["sum_of_squares"] == 0 + 1 + 4 + 9
    assert submission.submit_or_reattach(client, sub, entry, submission.runtime_env()) == "reused"
    assert submission.job_status(client, "airflow-never-submitted") is None


def test_failed_ray_job_is_resubmitted_under_the_same_id(stack):
    client = submission.job_client(stack.config.url("ray_dashboard"), stack.ray_token())
    sub = submission.submission_id("it_dag", f"manual__{uuid.uuid4().hex[:6]}", "fails")
    submission.submit_or_reattach(client, sub, "python -c 'raise SystemExit(3)'", submission.runtime_env())
    import time

    deadline = time.monotonic() + 60
    while submission.job_status(client, sub) not in submission.TERMINAL and time.monotonic() < deadline:
        time.sleep(1)
    assert submission.job_status(client, sub) == "FAILED"
    assert submission.submit_or_reattach(client, sub, "python -c 'print(1)'", submission.runtime_env()) == "submitted"


def test_s3hook_reads_the_landing_zone(stack, monkeypatch):
    import boto3

    for name, value in stack.connection_env().items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.config.url("s3"),
        region_name="us-east-1",
        aws_access_key_id=stack.creds.s3_access_key_id,
        aws_secret_access_key=stack.creds.s3_secret_access_key,
    )
    s3.put_object(Bucket=stack.config.landing_bucket, Key="it/dt=2026-11-01/a.txt", Body=b"hello")
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id="aws_landing")
    assert hook.list_keys(bucket_name=stack.config.landing_bucket, prefix="it/") == ["it/dt=2026-11-01/a.txt"]
    assert hook.read_key("it/dt=2026-11-01/a.txt", stack.config.landing_bucket) == "hello"


def test_unauthenticated_ray_job_submissions_and_mlflow_alias_changes_are_refused(stack):
    import requests

    ray, mlflow = stack.config.url("ray_dashboard"), stack.config.url("mlflow")
    submit = requests.post(f"{ray}/api/jobs/", json={"entrypoint": "echo anyone can run code here"}, timeout=10)
    assert submit.status_code in (401, 403), f"Ray accepted a job without a token: {submit.status_code}"
    alias = {"name": "cast_metal", "alias": "champion", "version": "1"}
    moved = requests.post(f"{mlflow}/api/2.0/mlflow/registered-models/alias", json=alias, timeout=10)
    assert moved.status_code in (401, 403), f"MLflow answered {moved.status_code} without credentials"
    # the pipeline's own credentials are accepted (through the same clients the tasks use)
    client = submission.job_client(ray, stack.ray_token())
    assert client.list_jobs() is not None
