"""Turn validated tables into model inputs: windows, stable splits, normalisation.

Pure numpy/pandas; the training job and the tests share it.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import SensorSpec

SPLITS = ("train", "val", "holdout")
# Cumulative bounds of the stable split: 70 % train, 15 % val, 15 % holdout.
_BOUNDS = (0.70, 0.85)


def split_of(key: str) -> str:
    """The split of a sample key (asset id, or an image's sha256); never changes across retrains."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "train" if h < _BOUNDS[0] else ("val" if h < _BOUNDS[1] else "holdout")


@dataclass
class Samples:
    """Model inputs with labels and the key their split is hashed from."""

    x: np.ndarray  # (n, channels, window) for sensors, (n, 1, height, width) for images; float32
    y: np.ndarray  # (n,) int64 label index
    keys: np.ndarray  # (n,) sample key: asset id, or an image's sha256

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> Samples:
        return Samples(self.x[mask], self.y[mask], self.keys[mask])


def sensor_windows(df: pd.DataFrame, spec: SensorSpec) -> Samples:
    """Fixed-length windows of consecutive rows of one asset that share one label.

    Rows are ordered by timestamp per asset; a window never crosses an asset or a label change.
    """
    label_index = {label: i for i, label in enumerate(spec.labels)}
    xs, ys, keys = [], [], []
    df = df.sort_values([spec.asset_column, spec.timestamp_column], kind="stable")
    for asset, group in df.groupby(spec.asset_column, sort=True):
        values = group[spec.channels].to_numpy(dtype=np.float32)
        labels = group[spec.label_column].to_numpy()
        # start of each run of equal labels
        change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
        bounds = np.concatenate([[0], change, [len(labels)]])
        for start, end in itertools.pairwise(bounds):
            for s in range(start, end - spec.window + 1, spec.stride):
                xs.append(values[s : s + spec.window].T)
                ys.append(label_index[labels[start]])
                keys.append(asset)
    if not xs:
        return Samples(
            np.zeros((0, len(spec.channels), spec.window), np.float32), np.zeros(0, np.int64), np.zeros(0, dtype=object)
        )
    return Samples(np.stack(xs), np.asarray(ys, np.int64), np.asarray(keys, dtype=object))


def split(w: Samples) -> dict[str, Samples]:
    names = np.array([split_of(str(k)) for k in w.keys])
    return {name: w.subset(names == name) for name in SPLITS}


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over every other axis, fitted on the training split only."""
    axes = tuple(i for i in range(x.ndim) if i != 1)
    mean = x.mean(axis=axes).astype(np.float32)
    std = x.std(axis=axes).astype(np.float32)
    return mean, np.where(std < 1e-8, 1.0, std).astype(np.float32)
