"""Derived window shards: each night's model inputs, cut once and kept in lakeFS (#15 part 2).

A night's samples (sensor windows, or decoded images) depend only on that night's files and on
the recipe that cut them: the dataset's sensor or image spec and the split plan's unit. The
training job (and the evaluation job, for the older nights it cuts) writes them per night and
split (``train``/``val``/``holdout`` ``.npz``, each
night committed as it is written) on their own branch (``DERIVED_BRANCH``, never main: main only
moves by merging validated data), under a key that hashes the recipe and the night's files (path
and checksum). A later retrain, the evaluation and a reproduction read a night's shard when one
exists for exactly those files and that recipe, and cut the files otherwise. The recipe holds
the code of the modules that read and cut samples (their syntax trees: docs and comments left
out) and the versions of Python and the libraries they use, so a change to either cuts every
night again instead of reading what an older cut left.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import sys
from collections.abc import Collection
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DatasetConfig
from ..lake import lakefs_io
from . import features
from .splits import SplitPlan

DERIVED_BRANCH = "retrain-derived"
DERIVED_PREFIX = "windows/"
DONE = "done.json"  # written last: a shard without it is incomplete and never read
# Bump to cut every night again for a reason the code and libraries below do not show.
RECIPE_VERSION = 1
# What reads and cuts a night's samples: their source is part of every shard's key.
CUTTING_MODULES = ("ml/dataset.py", "ml/features.py", "ml/splits.py", "ml/derived.py", "lake/formats.py")
CUTTING_LIBRARIES = ("numpy", "pandas", "pyarrow", "pillow")
PACKAGE = Path(__file__).resolve().parents[1]  # include/retrain


@functools.cache
def code_fingerprint(package: Path = PACKAGE) -> str:
    """A hash of the cutting modules' code (below ``package``, this ``include/retrain``) and the
    cutting libraries' versions. The code is each module's syntax tree without its docstrings
    (comments are not in it), so an edit of the docs alone cuts nothing again; the tree's dump is
    Python's own, so the Python version is in the hash too."""
    digest = hashlib.sha256(f"python {sys.version_info.major}.{sys.version_info.minor}\0".encode())
    for module in CUTTING_MODULES:
        digest.update(module.encode() + b"\0" + _code_of((package / module).read_text()).encode())
    for library in CUTTING_LIBRARIES:
        digest.update(f"{library}=={metadata.version(library)}\0".encode())
    return digest.hexdigest()


def _code_of(source: str) -> str:
    """A module's syntax tree without docstrings (of the module, its classes and functions)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def shard_key(ds: DatasetConfig, plan: SplitPlan, files: dict[str, str]) -> str:
    """The key of a night's shard: the recipe (spec, plan unit, the cutting code and libraries) and
    the night's ``files`` (path -> checksum)."""
    spec = ds.sensor if ds.modality == "sensor" else ds.image
    assert spec is not None
    recipe = {
        "version": RECIPE_VERSION,
        "code": code_fingerprint(),
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


def write(
    clt: Any, repository: str, night: str, key: str, parts: dict[str, features.Samples], source_commit: str
) -> None:
    """Write a night's shard to the derived branch (every split, then ``done.json``) and commit it."""
    import lakefs
    from lakefs.exceptions import LakeFSException

    branch = lakefs_io.ensure_branch(lakefs.Repository(repository, client=clt), DERIVED_BRANCH)
    prefix = shard_prefix(night, key)
    for split, samples in parts.items():
        lakefs_io.upload(branch, f"{prefix}{split}.npz", _dump(samples), "application/octet-stream")
    done = {
        "night": night,
        "key": key,
        "source_commit": source_commit,
        "samples": {s: len(p) for s, p in parts.items()},
    }
    lakefs_io.upload(branch, prefix + DONE, json.dumps(done).encode(), "application/json")
    try:
        lakefs_io.commit_if_changed(branch, f"samples of night {night or 'undated'}", {"source_commit": source_commit})
    except LakeFSException as exc:  # e.g. another job's commit took them first: they are read all the same
        print(f"the shard of night {night} is left uncommitted on '{DERIVED_BRANCH}': {exc}", flush=True)


def _dump(samples: features.Samples) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=samples.x, y=samples.y, keys=np.asarray(samples.keys, dtype=str))
    return buf.getvalue()


def _load(body: bytes) -> features.Samples:
    with np.load(io.BytesIO(body), allow_pickle=False) as npz:
        return features.Samples(npz["x"], npz["y"], npz["keys"].astype(object))
