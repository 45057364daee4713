"""Helpers of the integration tests that drive the pipeline functions on datasets of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from include.retrain import config

ROOT = Path(__file__).resolve().parents[2]


def in_local_ray_child(module: str, arg: str, env: dict[str, str] | None = None, timeout: float = 600) -> Any:
    """Run ``python -m <module> <arg>`` in a child process that starts a throwaway local Ray (Ray's
    auth settings are global to a process: the session's cluster uses token auth); the JSON on its
    last stdout line."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    child_env |= {"RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)} | (env or {})
    proc = subprocess.run(
        [sys.executable, "-m", module, arg], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report_scripted(name: str, scores: list[float], hold_back_s: float = 0.0) -> None:
    """Inside a Tune trial: report ``scores`` one epoch at a time, each with a checkpoint holding
    ``epoch.json`` ({"trial": name, "epoch": n}), as ``train.train_trial`` reports; the first
    report ``hold_back_s`` late."""
    import tempfile
    import time

    from ray import tune

    for epoch, score in enumerate(scores, start=1):
        if epoch == 1:
            time.sleep(hold_back_s)
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "epoch.json").write_text(json.dumps({"trial": name, "epoch": epoch}))
            tune.report({"val_macro_f1": score, "epoch": epoch}, checkpoint=tune.Checkpoint.from_directory(d))


@pytest.fixture(scope="module")
def endpoint(stack):
    return stack.lakefs_endpoint()


def dataset_copy(base: str, name: str, **validation: Any) -> config.DatasetConfig:
    """Entry ``base`` of datasets.yaml under another name (own repo and landing prefix)."""
    from devstack.generate import dataset_copy as copy

    return copy(config.get(base), name, **validation)


def publish_partition(stack: Any, endpoint: Any, ds: config.DatasetConfig, date: str, run_id: str, **gen: Any) -> str:
    """Land a generated partition of ``ds`` and run ingest, validate and publish: the commit on main."""
    from devstack import generate

    files = {f.key.split("/", 1)[1]: f.body for f in generate.partition(ds, date, **gen)}
    return publish_files(stack, endpoint, ds, date, run_id, files)


def publish_files(
    stack: Any, endpoint: Any, ds: config.DatasetConfig, date: str, run_id: str, files: dict[str, bytes]
) -> str:
    """Land ``files`` (name below ``dt=<date>/`` -> bytes) and run ingest, validate and publish."""
    from devstack import nightly

    assert endpoint == stack.lakefs_endpoint()
    return nightly.publish_files(stack, ds, date, run_id, files)


def submit_job(stack: Any, ds: config.DatasetConfig, entrypoint: str, run_id: str, tmp: Path) -> tuple[Any, str]:
    """Submit a job of this package to the stack's Ray cluster, reading a datasets.yaml holding ``ds``."""
    from devstack import nightly

    return nightly.submit_job(stack, nightly.write_datasets_file(tmp / "datasets.yaml", ds), entrypoint, run_id)


def wait_job(client: Any, sub: str, timeout: float = 600, succeed: bool = True) -> tuple[dict[str, Any], str]:
    """Wait for a job; returns (its RETRAIN_RESULT, its log). ``succeed``: it must have succeeded."""
    from devstack import nightly

    return nightly.wait_job(client, sub, timeout, succeed)
