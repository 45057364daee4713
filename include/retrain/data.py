"""Read a dataset at an immutable lakeFS commit and turn it into split windows."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import features, lakefs_io, tables
from .config import DatasetConfig

DATA_PREFIX = "data/"


def lakefs_client_from_env() -> Any:
    """A lakeFS client configured by LAKECTL_* variables (set on the Ray cluster, never per job)."""
    from lakefs.client import Client

    return Client()


def load_sensor_table(ds: DatasetConfig, commit: str, clt: Any) -> pd.DataFrame:
    assert ds.sensor is not None
    frames = []
    for path, _, _ in lakefs_io.list_paths(clt, ds.repository, commit, DATA_PREFIX):
        if path.endswith(tables.SENSOR_SUFFIXES):
            body = lakefs_io.read_bytes(clt, ds.repository, commit, path)
            frames.append(tables.read_sensor_file(path, body, ds.sensor))
    if not frames:
        raise ValueError(f"{ds.repository}@{commit[:12]}: no sensor files under {DATA_PREFIX}")
    return pd.concat(frames, ignore_index=True)


def load_splits(ds: DatasetConfig, commit: str, clt: Any) -> dict[str, features.Windows]:
    """Windows of every split; the holdout is the same for every model evaluated on this commit."""
    assert ds.sensor is not None
    windows = features.sensor_windows(load_sensor_table(ds, commit, clt), ds.sensor)
    return features.split(windows)
