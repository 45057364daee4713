"""A run whose files are larger than ``validation.spread_above_mb`` is examined by a Ray job
spread over the cluster's nodes (``jobs/file_statistics.py``), and judged exactly as the
validation task judges the files it examines itself.

Real recordings (BasicMotions, shipped in sktime) as 8 watches' CSVs, and 4 bad files made from
them: an infinite reading, an unknown activity, a second copy of a file, a file cut mid-line.
The run goes through the real ingest and validate steps against the real lakeFS and the test
stack's three-node Ray cluster.
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from devstack.real_data import basic_motions_fleet, device_csvs
from include.retrain import steps
from include.retrain.handoffs import RunLineage
from include.retrain.jobs import submission
from include.retrain.jobs.file_statistics import examination_id
from include.retrain.jobs.submission import RayEndpoint
from include.retrain.lake import lakefs_io
from include.retrain.quality.checks import validate_files
from tests.integration.conftest import dataset_copy

DATE = "2026-10-05"


def _bad_files(good: dict[str, bytes]) -> dict[str, bytes]:
    table = pd.read_csv(io.BytesIO(good["watch-01.csv"]))
    infinite = table.copy()
    infinite.loc[7, "acc_x"] = np.inf
    unknown = table.copy()
    unknown.loc[0, "label"] = "flying"
    return {
        "watch-01-inf.csv": infinite.to_csv(index=False).encode(),
        "watch-01-label.csv": unknown.to_csv(index=False).encode(),
        "zz-watch-02-again.csv": good["watch-02.csv"],
        "watch-03-cut.csv": good["watch-03.csv"][: len(good["watch-03.csv"]) // 2],
    }


def _verdicts(files: list) -> list[tuple]:
    return [(f["path"], f["rows"], f["reasons"], f["notes"]) for f in files]


def _ingested(stack: Any, endpoint: Any, ds: Any, landed: dict[str, bytes], run_id: str) -> tuple:
    """``landed`` put in the landing zone and ingested by run ``run_id``: its lineage, the Ray
    endpoint and the ingest's result."""
    s3 = stack.s3_client()
    for key, body in landed.items():
        s3.put_object(Bucket=ds.landing.bucket, Key=f"{ds.landing.prefix}/{key}", Body=body)
    lineage = RunLineage(ds.dag_id, run_id, DATE)
    ray = RayEndpoint(stack.config.url("ray_dashboard"), stack.ray_token())
    return lineage, ray, steps.ingest(ds, s3, DATE, endpoint, lineage)


def _watches_on_ray(stack: Any, endpoint: Any, name: str, watches: int) -> tuple:
    """``watches`` good watches ingested for a dataset above ``spread_above_mb``: the dataset, the
    lineage, the Ray endpoint, the ingest's result and a Jobs API client."""
    ds = dataset_copy("motions_fleet", name, spread_above_mb=0.0)
    good = device_csvs(basic_motions_fleet(watches))
    landed = {f"dt={DATE}/{k}": v for k, v in good.items()}
    lineage, ray, ingested = _ingested(stack, endpoint, ds, landed, name.replace("_", "__", 1))
    return ds, lineage, ray, ingested, submission.job_client(ray.address, ray.token)


def test_a_large_run_is_examined_on_ray_across_nodes_and_judged_as_in_the_task(stack, endpoint):
    ds = dataset_copy("motions_fleet", "spread_motions", spread_above_mb=0.0, max_bad_fraction=0.5)
    good = device_csvs(basic_motions_fleet(8))
    landed = {f"dt={DATE}/{k}": v for k, v in {**good, **_bad_files(good)}.items()}
    lineage, ray, ingested = _ingested(stack, endpoint, ds, landed, "spread__1")
    validated = steps.validate(ds, endpoint, ingested, lineage, ray)

    spread = validated["examined_on_ray"]
    assert spread is not None, "the run was examined in the task, not on Ray"
    print(f"examined on Ray: {spread}")
    assert spread["nodes"] >= 2 and spread["tasks"] >= 3, spread  # the chunks went to more than one node
    # the same verdicts, reasons and notes as the task's own threads give on the same bytes
    inline = validate_files(ds, landed).as_dict()
    assert _verdicts(validated["files"]) == _verdicts(inline["files"])
    bad = {f["path"]: f["reasons"] for f in validated["files"] if not f["ok"]}
    assert set(bad) == {f"dt={DATE}/{k}" for k in _bad_files(good)}, bad
    assert "out of range: 'acc_x'" in bad[f"dt={DATE}/watch-01-inf.csv"][0]
    assert bad[f"dt={DATE}/watch-01-label.csv"][0].startswith("unknown labels ['flying']")
    assert bad[f"dt={DATE}/zz-watch-02-again.csv"] == [f"duplicate of dt={DATE}/watch-02.csv (same content)"]
    assert validated["passed"] and validated["files_to_merge"] == len(good)
    # the refused files left the run branch for the quarantine, as when the task examines them
    repo = lakefs_io.ensure_repository(lakefs_io.client(endpoint), ds.repository)
    on_branch = lakefs_io.changed_paths(repo, ingested["branch"], lakefs_io.DATA_PREFIX)
    assert on_branch == sorted(f"data/dt={DATE}/{k}" for k in good)
    assert sorted(validated["quarantined"]) == sorted(f"data/{p}" for p in bad)

    # below the threshold the same run is examined in the task
    small = dataset_copy("motions_fleet", "spread_motions", spread_above_mb=None, max_bad_fraction=0.5)
    again = steps.validate(small, endpoint, ingested, lineage, ray)
    assert again.get("examined_on_ray") is None


def test_a_validation_stops_the_examination_an_earlier_try_left_running(stack, endpoint):
    """A validate try killed while its Ray job ran (the operator cleared it, its worker died) leaves
    the job running on the cluster; the next try of the same run stops it before submitting its own,
    whose examination of what the branch holds now is the one that counts.

    The earlier try's job is a real job on the real cluster under the id such a try gives it
    (``examination_id``), made to outlive the test so the next try finds it running.
    """
    ds, lineage, ray, ingested, client = _watches_on_ray(stack, endpoint, "spread_stop", 4)
    earlier = f"{examination_id(ds, ingested['branch'], lineage.run_id)}-1"
    client.submit_job(entrypoint="python -c 'import time; time.sleep(600)'", submission_id=earlier)
    deadline = time.monotonic() + 60
    while submission.job_status(client, earlier) != "RUNNING":
        assert time.monotonic() < deadline, f"the stand-in job never ran: {submission.job_status(client, earlier)}"
        time.sleep(0.5)

    validated = steps.validate(ds, endpoint, ingested, lineage, ray)

    assert validated["passed"] and validated["examined_on_ray"] is not None
    assert submission.wait_for_end(client, earlier, 30) == "STOPPED", "the earlier try's job still runs"


_EXAMINE = """
import sys
from include.retrain.config import DatasetConfig
from include.retrain.jobs.file_statistics import examine_on_ray
from include.retrain.jobs.submission import RayEndpoint

ds = DatasetConfig.model_validate_json(sys.stdin.read())
examine_on_ray(RayEndpoint(sys.argv[1], sys.argv[2]), ds, sys.argv[3], sys.argv[4])
"""


def test_a_validation_told_to_stop_stops_its_examination(stack, endpoint):
    """Airflow's supervisor sends the task process SIGTERM when an operator marks the running
    ``validate`` failed or clears it: the examination job stops with it instead of running to its
    end with no try left to read it. The task is a real process running the task's own call."""
    ds, lineage, ray, ingested, client = _watches_on_ray(stack, endpoint, "spread_term", 8)
    stem = f"{examination_id(ds, ingested['branch'], lineage.run_id)}-"
    task = subprocess.Popen(
        [sys.executable, "-c", _EXAMINE, ray.address, ray.token, ingested["branch"], lineage.run_id],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert task.stdin is not None
    task.stdin.write(ds.model_dump_json())
    task.stdin.close()
    deadline, running = time.monotonic() + 120, None
    while running is None:
        assert time.monotonic() < deadline and task.poll() is None, "the examination job never ran"
        running = next(
            (
                j.submission_id
                for j in client.list_jobs()
                if (j.submission_id or "").startswith(stem)
                and submission.job_status(client, j.submission_id) == "RUNNING"
            ),
            None,
        )
        time.sleep(0.2)

    task.send_signal(signal.SIGTERM)  # what the supervisor sends first
    task.wait(timeout=60)
    assert task.stderr is not None
    err = task.stderr.read()
    assert task.returncode == -signal.SIGTERM, (task.returncode, err[-2000:])
    assert submission.wait_for_end(client, running, 30) == "STOPPED", "the examination ran on after its task"
    assert f"stopped Ray job {running}" in err, err[-2000:]
