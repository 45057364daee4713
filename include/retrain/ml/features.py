"""Turn validated tables into model inputs: windows, stable splits, normalisation.

Pure numpy/pandas; the training job and the tests share it. Which unit a split holds out is
decided in :mod:`.splits`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import SensorSpec
from .splits import SPLITS, block_starts, nanoseconds, split_of


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


def sensor_windows(df: pd.DataFrame, spec: SensorSpec, block_seconds: float | None = None) -> Samples:
    """Fixed-length windows of consecutive rows of one asset that share one label.

    Rows are ordered by timestamp per asset. A window never crosses an asset, a label change, a
    gap longer than ``spec.max_gap`` median sample intervals (of that asset) or, with
    ``block_seconds``, the edge of a time block. Keys are the split units: the asset, or
    ``<asset>|<block start in ns>`` with ``block_seconds``.
    """
    label_index = {label: i for i, label in enumerate(spec.labels)}
    xs, ys, keys = [], [], []
    df = df.sort_values([spec.asset_column, spec.timestamp_column], kind="stable")
    for asset, group in df.groupby(spec.asset_column, sort=True):
        values = group[spec.channels].to_numpy(dtype=np.float32)
        labels = group[spec.label_column].to_numpy()
        ns = nanoseconds(group[spec.timestamp_column])
        steps = np.diff(ns)
        breaks = labels[1:] != labels[:-1]
        moving = steps[steps > 0]
        if len(moving):
            breaks |= steps > spec.max_gap * float(np.median(moving))
        blocks = block_starts(ns, block_seconds) if block_seconds else None
        if blocks is not None:
            breaks |= blocks[1:] != blocks[:-1]
        bounds = np.concatenate([[0], np.flatnonzero(breaks) + 1, [len(labels)]])
        for start, end in itertools.pairwise(bounds):
            key = str(asset) if blocks is None else f"{asset}|{blocks[start]}"
            for s in range(start, end - spec.window + 1, spec.stride):
                xs.append(values[s : s + spec.window].T)
                ys.append(label_index[labels[start]])
                keys.append(key)
    if not xs:
        return Samples(
            np.zeros((0, len(spec.channels), spec.window), np.float32), np.zeros(0, np.int64), np.zeros(0, dtype=object)
        )
    return Samples(np.stack(xs), np.asarray(ys, np.int64), np.asarray(keys, dtype=object))


def flat_windows(x: np.ndarray, min_std: float) -> np.ndarray:
    """Which sensor windows (n, channels, window) have a channel flatter than ``min_std``."""
    if not len(x):
        return np.zeros(0, bool)
    return np.asarray((x.std(axis=2) < min_std).any(axis=1))


def split(w: Samples) -> dict[str, Samples]:
    """The samples of each split, by the hash of their unit key."""
    names = np.array([split_of(str(k)) for k in w.keys])
    return {name: w.subset(names == name) for name in SPLITS}


def class_counts(parts: dict[str, Samples], labels: list[str]) -> dict[str, dict[str, int]]:
    """Samples per split and label: ``{split: {label: count}}``."""
    return {s: {lab: int((parts[s].y == i).sum()) for i, lab in enumerate(labels)} for s in SPLITS}


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over every other axis, fitted on the training split only."""
    axes = tuple(i for i in range(x.ndim) if i != 1)
    mean = x.mean(axis=axes).astype(np.float32)
    std = x.std(axis=axes).astype(np.float32)
    return mean, np.where(std < 1e-8, 1.0, std).astype(np.float32)
