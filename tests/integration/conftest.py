"""Helpers of the integration tests that drive the pipeline functions on datasets of their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.retrain import config


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
    from include.retrain import steps
    from include.retrain.handoffs import RunLineage

    files = generate.partition(ds, date, **gen)
    generate.write(files, ds.landing.prefix, s3=stack.s3_client(), bucket=ds.landing.bucket)
    lineage = RunLineage(ds.dag_id, run_id, date)
    ingested = steps.ingest(ds, stack.s3_client(), date, endpoint, lineage)
    report = steps.validate(ds, endpoint, ingested, lineage)
    return str(steps.publish_data(ds, endpoint, ingested, report, lineage)["commit"])


def write_datasets_file(path: Path, *datasets: config.DatasetConfig) -> Path:
    """A datasets.yaml holding ``datasets``, for a Ray job to read through RETRAIN_DATASETS_FILE."""
    entries = [json.loads(ds.model_dump_json()) for ds in datasets]
    path.write_text(yaml.safe_dump({"datasets": entries}, sort_keys=False))
    return path
