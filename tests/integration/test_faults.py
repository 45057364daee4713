"""Injected faults against the real services of the session stack."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from include.retrain import config, generate, lakefs_io, pipeline
from include.retrain.endpoints import LakeFSEndpoint

FAULT = config.get("pump_fleet").model_copy(
    update={
        "name": "fault_sensor",
        "landing": config.get("pump_fleet").landing.model_copy(update={"prefix": "fault_sensor"}),
    }
)


@pytest.fixture(scope="module")
def endpoint(stack):
    c = stack.creds
    return LakeFSEndpoint(stack.config.url("lakefs"), c.lakefs_access_key_id, c.lakefs_secret_access_key)


def test_lakefs_killed_mid_ingest_then_the_retry_completes_without_duplicates(stack, endpoint):
    date, run_id = "2025-03-01", "fault__lakefs_killed"
    files = generate.sensor_partition(FAULT, date, assets=40, rows_per_segment=1024)
    generate.write(files, FAULT.landing.prefix, s3=stack.s3_client(), bucket=FAULT.landing.bucket)
    clt = lakefs_io.client(endpoint)
    repo = lakefs_io.ensure_repository(clt, FAULT.repository)
    main_before = str(repo.branch("main").head.get_commit().id)
    branch = lakefs_io.run_branch_name(FAULT.dag_id, run_id)
    first: dict[str, BaseException] = {}

    def ingest_once() -> None:
        try:
            pipeline.ingest(FAULT, stack.s3_client(), date, endpoint, FAULT.dag_id, run_id)
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
    retry = pipeline.ingest(FAULT, stack.s3_client(), date, endpoint, FAULT.dag_id, run_id)
    assert retry["listed"] == len(files) and not retry["rejected"]
    on_branch = lakefs_io.list_paths(clt, FAULT.repository, branch, f"data/dt={date}/")
    assert sorted(p for p, _, _ in on_branch) == sorted(f"data/{f.key}" for f in files)  # all, once each
    sizes = {p: size for p, size, _ in on_branch}
    assert all(sizes[f"data/{f.key}"] == len(f.body) for f in files), "a partial object survived"
    assert str(repo.branch("main").head.get_commit().id) == main_before, "partial data was merged"
    report = pipeline.validate(FAULT, endpoint, retry, FAULT.dag_id, run_id)
    published = pipeline.publish_data(FAULT, endpoint, retry, report, {"airflow.run_id": run_id})
    on_main = lakefs_io.list_paths(clt, FAULT.repository, published["commit"], f"data/dt={date}/")
    assert len(on_main) == len(files)
