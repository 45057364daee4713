"""Read a dataset at an immutable lakeFS commit and turn it into split windows."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..config import DatasetConfig
from ..lake import lakefs_io
from ..lake.formats import IMAGE_SUFFIXES, SENSOR_SUFFIXES, image_array, read_sensor_file
from ..lake.lakefs_io import DATA_PREFIX
from . import features


def load_sensor_table(ds: DatasetConfig, commit: str, clt: Any) -> pd.DataFrame:
    assert ds.sensor is not None
    frames = []
    for path, _, _ in lakefs_io.list_paths(clt, ds.repository, commit, DATA_PREFIX):
        if path.endswith(SENSOR_SUFFIXES):
            body = lakefs_io.read_bytes(clt, ds.repository, commit, path)
            frames.append(read_sensor_file(path, body, ds.sensor))
    if not frames:
        raise ValueError(f"{ds.repository}@{commit[:12]}: no sensor files under {DATA_PREFIX}")
    return pd.concat(frames, ignore_index=True)


def load_image_samples(ds: DatasetConfig, commit: str, clt: Any) -> features.Samples:
    """Every image at the commit as (1, H, W) arrays; labels from the folder, keys = sha256 of the bytes."""
    import hashlib

    import numpy as np

    assert ds.image is not None
    index = {label: i for i, label in enumerate(ds.image.labels)}
    xs, ys, keys = [], [], []
    for path, _, _ in lakefs_io.list_paths(clt, ds.repository, commit, DATA_PREFIX):
        label = path.split("/")[-2]
        if path.lower().endswith(IMAGE_SUFFIXES) and label in index:
            body = lakefs_io.read_bytes(clt, ds.repository, commit, path)
            xs.append(image_array(body, tuple(ds.image.size)))  # type: ignore[arg-type]
            ys.append(index[label])
            keys.append(hashlib.sha256(body).hexdigest())
    if not xs:
        raise ValueError(f"{ds.repository}@{commit[:12]}: no images under {DATA_PREFIX}")
    return features.Samples(np.stack(xs), np.asarray(ys, np.int64), np.asarray(keys, dtype=object))


def load_splits(ds: DatasetConfig, commit: str, clt: Any) -> dict[str, features.Samples]:
    """Samples of every split; the holdout is the same for every model evaluated on this commit."""
    if ds.modality == "image":
        return features.split(load_image_samples(ds, commit, clt))
    assert ds.sensor is not None
    return features.split(features.sensor_windows(load_sensor_table(ds, commit, clt), ds.sensor))
