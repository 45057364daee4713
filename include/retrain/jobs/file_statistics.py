"""Ray job: examine a run branch's new sensor files on the cluster's workers.

The validation task submits this job when a run's new files are larger than
``validation.spread_above_mb``. The job lists the files the branch would bring into main (what
the task lists), cuts them into two chunks per CPU of the cluster (at most ``CHUNK_BYTES`` each),
and runs one Ray task per chunk, spread over the cluster's nodes. Each task reads its files from
lakeFS and reduces each to its statistics (``quality.sensor.examine``, the code the task's
threads run). Only the statistics come back; GX, the row-by-row suite for failing files, the
report and the quarantine stay in the task.

    python -m include.retrain.jobs.file_statistics --branch <run branch>
        (with the dataset's config entry as JSON in $RETRAIN_DATASET_JSON)

A cluster with more workers spreads the chunks over more CPUs with no change here or in the DAG.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections import Counter
from typing import Any

from ..config import DatasetConfig
from ..handoffs import ExaminedOnRay
from ..lake import lakefs_io
from ..quality.sensor import Examined
from . import submission

log = logging.getLogger(__name__)
DATASET_ENV = "RETRAIN_DATASET_JSON"  # the task's config entry: the job checks what the task would
CHUNK_BYTES = 64 * 2**20  # files per Ray task: at most this many bytes (or one larger file)


def chunks(sizes: dict[str, int], parts: int, limit: int = CHUNK_BYTES) -> list[list[str]]:
    """Consecutive paths in about ``parts`` groups of equal bytes, each at most ``limit`` bytes
    (a larger file is a group of its own)."""
    target = min(limit, max(1, sum(sizes.values()) // max(parts, 1)))
    out: list[list[str]] = []
    weight = 0
    for path, size in sizes.items():
        if not out or (out[-1] and weight + size > target):
            out.append([])
            weight = 0
        out[-1].append(path)
        weight += size
    return out


def _examine_chunk(ds: DatasetConfig, branch: str, paths: list[str], sizes: dict[str, int]) -> dict[str, Any]:
    """One Ray task: read each file from lakeFS (the next one while parsing) and examine it."""
    import ray

    from ..quality.sensor import examine

    clt = lakefs_io.client_from_env()
    stream = lakefs_io.stream_objects(clt, ds.repository, branch, paths, workers=2, prefetch=2, sizes=sizes)
    files = [examine(p.removeprefix(lakefs_io.DATA_PREFIX), body, ds).as_dict() for p, body in stream]
    return {"node": ray.get_runtime_context().get_node_id(), "files": files}


def examine_branch(ds: DatasetConfig, branch: str) -> dict[str, Any]:
    """Every new file of ``branch`` examined by Ray tasks; the files in the branch's order."""
    import ray

    started = time.monotonic()
    repo = _repository(ds)
    sizes = lakefs_io.changed_objects(repo, branch, lakefs_io.DATA_PREFIX)
    # two chunks per CPU of the cluster (a node that ends early takes another), at most CHUNK_BYTES
    groups = chunks(sizes, parts=2 * int(ray.cluster_resources().get("CPU", 1)))
    task = ray.remote(num_cpus=1, scheduling_strategy="SPREAD")(_examine_chunk)
    refs = [task.remote(ds, branch, group, {p: sizes[p] for p in group}) for group in groups]
    done = ray.get(refs)
    nodes = Counter(d["node"] for d in done)
    seconds = time.monotonic() - started
    print(
        f"examined {len(sizes)} files ({sum(sizes.values()) / 2**20:,.0f} MiB) in {len(groups)} Ray tasks "
        f"on {len(nodes)} node(s) in {seconds:.1f} s"
    )
    return {
        "files": [f for d in done for f in d["files"]],
        "tasks": len(groups),
        "nodes": len(nodes),
        "tasks_per_node": sorted(nodes.values(), reverse=True),
        "seconds": round(seconds, 2),
    }


def _repository(ds: DatasetConfig) -> Any:
    import lakefs

    return lakefs.Repository(ds.repository, client=lakefs_io.client_from_env())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--branch", required=True, help="the run branch whose new files to examine")
    args = parser.parse_args(argv)
    raw = os.environ.get(DATASET_ENV)
    if not raw:
        raise SystemExit(f"${DATASET_ENV} is not set: the validation task passes the dataset's config entry")
    ds = DatasetConfig.model_validate_json(raw)
    if ds.sensor is None:
        raise SystemExit(f"dataset '{ds.name}' is not a sensor dataset: only sensor files are examined on Ray")
    import ray

    ray.init()
    submission.emit_result(examine_branch(ds, args.branch))


# --- the validation task's side: submit the job, wait, read the examined files ---------------------------


def examination_id(ds: DatasetConfig, branch: str, run: str) -> str:
    """The stem of the submission ids of the jobs examining ``branch`` for run ``run`` (each try
    adds its start time)."""
    return submission.submission_id(ds.dag_id, run, "validate", _entrypoint(branch))


def _entrypoint(branch: str) -> str:
    return f"python -m include.retrain.jobs.file_statistics --branch {branch}"


def examine_on_ray(
    ray: submission.RayEndpoint, ds: DatasetConfig, branch: str, run: str, timeout: float = 3600
) -> tuple[list[Examined], ExaminedOnRay]:
    """Run this job for ``branch`` and wait for it; its examined files, in the branch's order.

    A new job every call (a Clear re-examines what the branch holds now); a job of an earlier call
    for the same run and branch that still runs is stopped first. The job is stopped if it has
    not ended after ``timeout`` seconds, or if this process is told to end (SIGTERM) meanwhile.
    """
    entrypoint = _entrypoint(branch)
    stem = examination_id(ds, branch, run)
    sub_id = f"{stem}-{time.time_ns() // 1_000_000}"
    client = submission.job_client(ray.address, ray.token)
    # an earlier try killed while its job ran (a Clear, a lost worker) left that job running: this
    # try's examination of what the branch holds now replaces it
    for earlier in submission.stop_running(client, f"{stem}-"):
        log.warning("stopped Ray job %s, an earlier try's examination of %s that was still running", earlier, branch)
    env = submission.runtime_env({DATASET_ENV: ds.model_dump_json()})
    # a try told to end (an operator marked it failed or cleared it) stops its job with it
    with submission.stopped_on_term(client, sub_id):
        client.submit_job(
            entrypoint=entrypoint, submission_id=sub_id, runtime_env=env, metadata={"airflow.run_id": run}
        )
        log.info("examining the new files on Ray: job %s (dashboard: %s/#/jobs/%s)", sub_id, ray.address, sub_id)
        status = submission.wait_for_end(client, sub_id, timeout)
    if status is None:
        client.stop_job(sub_id)
        raise TimeoutError(f"Ray job {sub_id} examining {branch} did not end in {timeout:.0f} s: stopped")
    logs = client.get_job_logs(sub_id)
    if status != "SUCCEEDED":
        err = submission.parse_error(logs)
        tail = "\n".join(logs.splitlines()[-20:])
        raise RuntimeError(f"Ray job {sub_id} examining {branch} ended {status}: {err.message if err else tail}")
    result = submission.parse_result(logs)
    spread: ExaminedOnRay = {
        "submission_id": sub_id,
        "tasks": int(result["tasks"]),
        "nodes": int(result["nodes"]),
        "tasks_per_node": list(result["tasks_per_node"]),
        "seconds": float(result["seconds"]),
    }
    log.info(
        "Ray job %s examined %d files in %d tasks on %d node(s) (tasks per node: %s) in %.1f s",
        sub_id,
        len(result["files"]),
        spread["tasks"],
        spread["nodes"],
        spread["tasks_per_node"],
        spread["seconds"],
    )
    return [Examined.from_dict(d) for d in result["files"]], spread


if __name__ == "__main__":
    submission.run_job(main)
