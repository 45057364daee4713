"""Derived window shards: each night's model inputs, cut once and kept in lakeFS (#15 part 2).

A night's samples (sensor windows, or decoded images) depend only on that night's files and on
the recipe that cut them: the dataset's sensor or image spec and the split plan's unit. The
training job writes them per night and split (``train``/``val``/``holdout`` ``.npz``) on their
own branch (``DERIVED_BRANCH``, never main: main only moves by merging validated data), under a
key that hashes the recipe and the night's files (path and checksum). A later retrain, the
evaluation and a reproduction read a night's shard when one exists for exactly those files and
that recipe, and window the files otherwise: a shard can be missing, never stale.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Collection
from typing import Any

import numpy as np

from ..config import DatasetConfig
from ..lake import lakefs_io
from . import features
from .splits import SplitPlan

DERIVED_BRANCH = "retrain-derived"
DERIVED_PREFIX = "windows/"
DONE = "done.json"  # written last: a shard without it is incomplete and never read
# Bump when the way samples are cut changes, so no shard of the old cut is read again.
RECIPE_VERSION = 1


def shard_key(ds: DatasetConfig, plan: SplitPlan, files: dict[str, str]) -> str:
    """The key of a night's shard: the recipe (spec, plan unit) and the night's ``files``
    (path -> checksum)."""
    spec = ds.sensor if ds.modality == "sensor" else ds.image
    assert spec is not None
    recipe = {
        "version": RECIPE_VERSION,
        "modality": ds.modality,
        "spec": spec.model_dump(mode="json", exclude={"augment"}),
        "unit": plan.unit,
        "block_seconds": plan.block_seconds if plan.unit == "time" else None,
        "files": sorted(files.items()),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:40]


def shard_prefix(night: str, key: str) -> str:
    return f"{DERIVED_PREFIX}dt={night or 'undated'}/{key}/"


def read(
    clt: Any, repository: str, night: str, key: str, wanted: Collection[str]
) -> dict[str, features.Samples] | None:
    """The ``wanted`` splits' samples of a night's shard, or None when there is no complete one."""
    from lakefs.exceptions import NotFoundException

    prefix = shard_prefix(night, key)
    try:
        lakefs_io.read_bytes(clt, repository, DERIVED_BRANCH, prefix + DONE)
        return {
            split: _load(lakefs_io.read_bytes(clt, repository, DERIVED_BRANCH, f"{prefix}{split}.npz"))
            for split in wanted
        }
    except NotFoundException:  # no branch yet, or no shard for these files and this recipe
        return None


def write(clt: Any, repository: str, night: str, key: str, parts: dict[str, features.Samples]) -> None:
    """Upload a night's shard (every split, then ``done.json``) to the derived branch, uncommitted
    (:func:`commit` commits a job's shards at once)."""
    import lakefs

    branch = lakefs.Repository(repository, client=clt).branch(DERIVED_BRANCH)
    branch.create(source_reference=lakefs_io.MAIN, exist_ok=True)
    prefix = shard_prefix(night, key)
    for split, samples in parts.items():
        lakefs_io.upload(branch, f"{prefix}{split}.npz", _dump(samples), "application/octet-stream")
    done = {"night": night, "key": key, "samples": {s: len(p) for s, p in parts.items()}}
    lakefs_io.upload(branch, prefix + DONE, json.dumps(done).encode(), "application/json")


def commit(clt: Any, repository: str, nights: list[str], source_commit: str) -> None:
    """Commit the shards written for ``nights`` (nothing when another job's commit took them)."""
    import lakefs
    from lakefs.exceptions import LakeFSException

    branch = lakefs.Repository(repository, client=clt).branch(DERIVED_BRANCH)
    try:
        lakefs_io.commit_if_changed(
            branch,
            f"window shards of {len(nights)} night{'s' * (len(nights) != 1)}: {', '.join(sorted(nights))}",
            {"source_commit": source_commit},
        )
    except LakeFSException as exc:  # e.g. another job's commit took them first: they are read all the same
        print(f"window shards of {', '.join(sorted(nights))} left uncommitted on '{DERIVED_BRANCH}': {exc}", flush=True)


def _dump(samples: features.Samples) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=samples.x, y=samples.y, keys=np.asarray(samples.keys, dtype=str))
    return buf.getvalue()


def _load(body: bytes) -> features.Samples:
    with np.load(io.BytesIO(body), allow_pickle=False) as npz:
        return features.Samples(npz["x"], npz["y"], npz["keys"].astype(object))
