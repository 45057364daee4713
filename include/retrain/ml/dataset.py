"""Read a dataset at an immutable lakeFS commit and turn it into split windows.

Training trusts nothing blindly: data that slipped past validation (a non-finite value, a label
outside the config, a file that does not parse) stops the job with the files named, before any
model sees it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import DatasetConfig, SensorSpec
from ..handoffs import SPLITS
from ..lake import lakefs_io
from ..lake.formats import IMAGE_SUFFIXES, SENSOR_SUFFIXES, image_array, read_sensor_file
from ..lake.lakefs_io import DATA_PREFIX
from . import features, splits


class UntrustedData(ValueError):
    """Data at the commit that no model may be trained or scored on; the message names the files."""


def sensor_file_problems(df: pd.DataFrame, spec: SensorSpec) -> list[str]:
    """What makes one sensor table unfit for training (empty when it is fit)."""
    missing = [c for c in (spec.asset_column, spec.timestamp_column, spec.label_column, *spec.channels) if c not in df]
    if missing:
        return [f"missing columns {missing}"]
    out = []
    for ch in spec.channels:
        values = pd.to_numeric(df[ch], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).all():
            out.append(f"'{ch}' has {int((~np.isfinite(values)).sum())} non-finite values")
    unknown = sorted(set(df[spec.label_column].dropna().astype(str)) - set(spec.labels))
    if unknown:
        out.append(f"unknown labels {unknown} (the config knows {', '.join(spec.labels)})")
    if df[spec.timestamp_column].isna().any():
        out.append("timestamps that do not parse")
    return out


def sensor_tables(ds: DatasetConfig, commit: str, clt: Any) -> Iterator[pd.DataFrame]:
    """Every sensor table at the commit, one file at a time. Unfit files are collected and raise
    :class:`UntrustedData` (every one named) once all files were read."""
    assert ds.sensor is not None
    refused, seen = [], 0
    for path, _, _ in lakefs_io.list_paths(clt, ds.repository, commit, DATA_PREFIX):
        if path.endswith(SENSOR_SUFFIXES):
            seen += 1
            body = lakefs_io.read_bytes(clt, ds.repository, commit, path)
            try:
                df = read_sensor_file(path, body, ds.sensor)
            except ValueError as exc:
                refused.append(f"{path}: {exc}")
                continue
            problems = sensor_file_problems(df, ds.sensor)
            if problems:
                refused.append(f"{path}: {'; '.join(problems)}")
            elif not refused:
                yield df
    if refused:
        raise UntrustedData(
            f"dataset '{ds.name}': {len(refused)} files at {ds.repository}@{commit[:12]} cannot be trained on "
            "(they should never have passed validation):\n  " + "\n  ".join(refused)
        )
    if not seen:
        raise ValueError(f"{ds.repository}@{commit[:12]}: no sensor files under {DATA_PREFIX}")


def load_sensor_table(ds: DatasetConfig, commit: str, clt: Any) -> pd.DataFrame:
    return pd.concat(list(sensor_tables(ds, commit, clt)), ignore_index=True)


def load_image_samples(ds: DatasetConfig, commit: str, clt: Any, wanted: Collection[str] = SPLITS) -> features.Samples:
    """Every image at the commit (of the ``wanted`` splits) as (1, H, W) arrays; labels from the
    folder, keys = sha256 of the bytes. Every image is read and decoded, kept or not."""
    import hashlib

    assert ds.image is not None
    index = {label: i for i, label in enumerate(ds.image.labels)}
    xs, ys, keys, refused, seen = [], [], [], [], 0
    for path, _, _ in lakefs_io.list_paths(clt, ds.repository, commit, DATA_PREFIX):
        if not path.lower().endswith(IMAGE_SUFFIXES):
            continue
        seen += 1
        label = path.split("/")[-2]
        if label not in index:
            refused.append(f"{path}: unknown label folder '{label}' (the config knows {', '.join(index)})")
            continue
        body = lakefs_io.read_bytes(clt, ds.repository, commit, path)
        try:
            x = image_array(body, tuple(ds.image.size))  # type: ignore[arg-type]
        except Exception as exc:  # Pillow raises many types for broken files
            refused.append(f"{path}: does not decode ({type(exc).__name__}: {exc})")
            continue
        key = hashlib.sha256(body).hexdigest()
        if refused or splits.split_of(key) not in wanted:
            continue
        xs.append(x)
        ys.append(index[label])
        keys.append(key)
    if refused:
        raise UntrustedData(
            f"dataset '{ds.name}': {len(refused)} images at {ds.repository}@{commit[:12]} cannot be trained on "
            "(they should never have passed validation):\n  " + "\n  ".join(refused)
        )
    if not xs:
        if not seen:
            raise ValueError(f"{ds.repository}@{commit[:12]}: no images under {DATA_PREFIX}")
        h, w = ds.image.size
        return features.Samples(np.zeros((0, 1, h, w), np.float32), np.zeros(0, np.int64), np.zeros(0, dtype=object))
    return features.Samples(np.stack(xs), np.asarray(ys, np.int64), np.asarray(keys, dtype=object))


@dataclass
class SplitSamples:
    """The samples of each split and the plan that split them."""

    parts: dict[str, features.Samples]
    plan: splits.SplitPlan
    flat_windows_dropped: int = 0  # windows with a flat channel (validation.constant_channel: window)

    def __getitem__(self, name: str) -> features.Samples:
        return self.parts[name]

    def items(self) -> Iterable[tuple[str, features.Samples]]:
        return self.parts.items()


def load_splits(ds: DatasetConfig, commit: str, clt: Any, record: bool = False) -> SplitSamples:
    """Samples of every split; the holdout is the same for every model evaluated on this commit.

    The split plan is the configured one, else the one recorded in lakeFS, else decided from the
    data at ``commit`` (and recorded when ``record``: the training job records, so the evaluation
    and later nights use the same). Sensor windows with a flat channel are left out with
    ``validation.constant_channel: window``. Raises :class:`~.splits.SplitUnfit` (with the counts) unless
    every class has samples in every split.
    """
    plan = splits.configured_plan(ds)
    decided, dropped = False, 0
    if ds.modality == "image":
        samples = load_image_samples(ds, commit, clt)
    else:
        assert ds.sensor is not None
        table = load_sensor_table(ds, commit, clt)
        recorded = None if plan else splits.read_record(clt, ds.repository)
        if recorded and ds.split.unit in ("auto", recorded.unit):  # a record of another unit: the config changed
            plan = recorded
        if plan is None:
            plan, decided = splits.decide_sensor_plan(ds, table, commit), True
        samples = features.sensor_windows(table, ds.sensor, plan.block_seconds if plan.unit == "time" else None)
        if ds.validation.constant_channel == "window":
            flat = features.flat_windows(samples.x, ds.validation.min_channel_std)
            samples, dropped = samples.subset(~flat), int(flat.sum())
    assert plan is not None
    parts = features.split(samples)
    splits.check_coverage(ds, plan, features.class_counts(parts, ds.labels))
    if decided and record:
        splits.write_record(clt, ds.repository, plan)
    return SplitSamples(parts, plan, dropped)


def load_holdout(ds: DatasetConfig, commit: str, clt: Any) -> SplitSamples:
    """The holdout alone (``parts`` has only ``holdout``), the same samples as
    ``load_splits(...)["holdout"]``, read file by file: the rows or images of other splits are let
    go as each file is read, so memory follows the holdout, not the commit. Every file is still
    read and checked (:class:`UntrustedData`).

    Needs the plan: the configured one, else the one the training recorded; without either (no
    training recorded a plan yet) the whole commit is loaded to decide it, as :func:`load_splits`
    does. Raises :class:`~.splits.SplitUnfit` when a class has no holdout sample.
    """
    plan = splits.configured_plan(ds)
    dropped = 0
    if ds.modality == "image":
        assert plan is not None
        holdout = load_image_samples(ds, commit, clt, wanted=("holdout",))
    else:
        spec = ds.sensor
        assert spec is not None
        recorded = None if plan else splits.read_record(clt, ds.repository)
        if recorded and ds.split.unit in ("auto", recorded.unit):
            plan = recorded
        if plan is None:
            whole = load_splits(ds, commit, clt)
            return SplitSamples({"holdout": whole["holdout"]}, whole.plan, whole.flat_windows_dropped)
        block = plan.block_seconds if plan.unit == "time" else None
        holdout = features.streamed_windows(sensor_tables(ds, commit, clt), spec, block, {"holdout"})
        if ds.validation.constant_channel == "window":
            flat = features.flat_windows(holdout.x, ds.validation.min_channel_std)
            holdout, dropped = holdout.subset(~flat), int(flat.sum())
    support = features.label_counts(holdout, ds.labels)
    missing = [lab for lab, n in support.items() if n == 0]
    if missing:
        raise splits.SplitUnfit(
            f"dataset '{ds.name}': split {plan.describe()} ({plan.reason}): no holdout samples of "
            + ", ".join(f"'{lab}'" for lab in missing)
            + f" at {ds.repository}@{commit[:12]}. Holdout samples per class: "
            + ", ".join(f"{lab} {n}" for lab, n in support.items())
            + ". Nothing was evaluated."
        )
    return SplitSamples({"holdout": holdout}, plan, dropped)
