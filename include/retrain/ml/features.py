"""Turn validated tables into model inputs: windows, stable splits, normalisation.

Pure numpy/pandas; the training job and the tests share it. Which unit a split holds out is
decided in :mod:`.splits`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
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


def concat(parts: list[Samples]) -> Samples:
    """The samples of ``parts``, in their order."""
    if len(parts) == 1:
        return parts[0]
    return Samples(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "y", "keys")))


def sensor_windows(
    df: pd.DataFrame,
    spec: SensorSpec,
    block_seconds: float | None = None,
    median_steps: dict[str, float] | None = None,
) -> Samples:
    """Fixed-length windows of consecutive rows of one asset that share one label.

    Rows are ordered by timestamp per asset. A window never crosses an asset, a label change, a
    gap longer than ``spec.max_gap`` median sample intervals (of that asset) or, with
    ``block_seconds``, the edge of a time block. Keys are the split units: the asset, or
    ``<asset>|<block start in ns>`` with ``block_seconds``. ``median_steps`` (ns, by asset) gives
    each asset's median interval when ``df`` holds only some of its rows (:func:`asset_medians`).
    """
    xs, ys, keys = [], [], []
    for group, runs in _runs(df, spec, block_seconds, median_steps):
        values = group[spec.channels].to_numpy(dtype=np.float32)
        for start, end, label, key in runs:
            for s in range(start, end - spec.window + 1, spec.stride):
                xs.append(values[s : s + spec.window].T)
                ys.append(label)
                keys.append(key)
    if not xs:
        return Samples(
            np.zeros((0, len(spec.channels), spec.window), np.float32), np.zeros(0, np.int64), np.zeros(0, dtype=object)
        )
    return Samples(np.stack(xs), np.asarray(ys, np.int64), np.asarray(keys, dtype=object))


def _runs(
    df: pd.DataFrame, spec: SensorSpec, block_seconds: float | None, median_steps: dict[str, float] | None
) -> Iterator[tuple[pd.DataFrame, list[tuple[int, int, int, str]]]]:
    """Per asset: its rows in time order, and the runs of them a window may span
    (start, end, label index, unit key)."""
    label_index = {label: i for i, label in enumerate(spec.labels)}
    df = df.sort_values([spec.asset_column, spec.timestamp_column], kind="stable")
    for asset, group in df.groupby(spec.asset_column, sort=True):
        labels = group[spec.label_column].to_numpy()
        ns = nanoseconds(group[spec.timestamp_column])
        steps = np.diff(ns)
        breaks = labels[1:] != labels[:-1]
        moving = steps[steps > 0]
        median = median_steps.get(str(asset)) if median_steps is not None else None
        if median is None and len(moving):
            median = float(np.median(moving))
        if median is not None:
            breaks |= steps > spec.max_gap * median
        blocks = block_starts(ns, block_seconds) if block_seconds else None
        if blocks is not None:
            breaks |= blocks[1:] != blocks[:-1]
        bounds = np.concatenate([[0], np.flatnonzero(breaks) + 1, [len(labels)]])
        runs = [
            (
                int(start),
                int(end),
                label_index[labels[start]],
                str(asset) if blocks is None else f"{asset}|{blocks[start]}",
            )
            for start, end in itertools.pairwise(bounds)
        ]
        yield group, runs


def split_counts(y: np.ndarray, keys: np.ndarray, labels: list[str]) -> dict[str, dict[str, int]]:
    """Samples per split and label, from the samples' labels and unit keys alone."""
    by_key = {k: split_of(str(k)) for k in pd.unique(keys)} if len(keys) else {}
    names = np.array([by_key[k] for k in keys], dtype=object)
    return {s: {lab: int(((names == s) & (y == i)).sum()) for i, lab in enumerate(labels)} for s in SPLITS}


def unit_keys(df: pd.DataFrame, spec: SensorSpec, block_seconds: float | None = None) -> pd.Series:
    """The split unit of every row, keyed as :func:`sensor_windows` keys its windows."""
    assets = df[spec.asset_column].astype(str)
    if block_seconds is None:
        return assets
    starts = block_starts(nanoseconds(df[spec.timestamp_column]), block_seconds)
    return assets + "|" + pd.Series(starts, index=df.index).astype(str)


def rows_in(df: pd.DataFrame, spec: SensorSpec, block_seconds: float | None, wanted: set[str]) -> np.ndarray:
    """Which rows belong to a unit of the ``wanted`` splits. A window never crosses a unit, so the
    windows of these rows are exactly the ``wanted`` windows of the whole table (given each
    asset's median interval of the whole table with ``block_seconds``: :func:`asset_medians`)."""
    keys = unit_keys(df, spec, block_seconds)
    split_by_key = {k: split_of(k) for k in pd.unique(keys)}
    return keys.map(split_by_key).isin(wanted).to_numpy()


def asset_medians(timestamps: dict[str, list[np.ndarray]]) -> dict[str, float]:
    """Each asset's median positive interval (ns) over all its timestamps (ns, in any order)."""
    out = {}
    for asset, parts in timestamps.items():
        steps = np.diff(np.sort(np.concatenate(parts)))
        moving = steps[steps > 0]
        if len(moving):
            out[asset] = float(np.median(moving))
    return out


@dataclass
class WantedRows:
    """The rows of some splits' units (:func:`wanted_rows`), and with time blocks every row's
    timestamp by asset (ns): what :func:`windows_of_rows` needs."""

    rows: pd.DataFrame
    stamps: dict[str, list[np.ndarray]]


def wanted_rows(
    tables: Iterable[pd.DataFrame], spec: SensorSpec, block_seconds: float | None, wanted: set[str]
) -> WantedRows:
    """The rows of the ``wanted`` splits' units in ``tables``, concatenated; the other rows are
    let go as each table comes."""
    kept: list[pd.DataFrame] = []
    stamps: dict[str, list[np.ndarray]] = {}
    for table in tables:
        if block_seconds is not None:
            by_asset = table.groupby(table[spec.asset_column].astype(str), sort=False)[spec.timestamp_column]
            for asset, ts in by_asset:
                stamps.setdefault(str(asset), []).append(nanoseconds(ts))
        rows = table[rows_in(table, spec, block_seconds, wanted)]
        if len(rows):
            kept.append(rows)
    columns = [spec.asset_column, spec.timestamp_column, spec.label_column, *spec.channels]
    return WantedRows(pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=columns), stamps)


def windows_of_rows(parts: list[WantedRows], spec: SensorSpec, block_seconds: float | None) -> Samples:
    """The windows of ``parts`` concatenated in order, as :func:`sensor_windows` cuts the whole
    tables they came from (each machine's median interval over all its timestamps)."""
    rows = pd.concat([p.rows for p in parts], ignore_index=True) if len(parts) > 1 else parts[0].rows
    if block_seconds is None:
        return sensor_windows(rows, spec)
    stamps: dict[str, list[np.ndarray]] = {}
    for part in parts:
        for asset, arrays in part.stamps.items():
            stamps.setdefault(asset, []).extend(arrays)
    return sensor_windows(rows, spec, block_seconds, asset_medians(stamps))


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
    return {s: label_counts(parts[s], labels) for s in SPLITS}


def label_counts(samples: Samples, labels: list[str]) -> dict[str, int]:
    """Samples per label."""
    return {lab: int((samples.y == i).sum()) for i, lab in enumerate(labels)}


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over every other axis, fitted on the training split only."""
    axes = tuple(i for i in range(x.ndim) if i != 1)
    mean = x.mean(axis=axes).astype(np.float32)
    std = x.std(axis=axes).astype(np.float32)
    return mean, np.where(std < 1e-8, 1.0, std).astype(np.float32)
