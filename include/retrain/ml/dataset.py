"""Read a dataset at an immutable lakeFS commit and turn it into split windows.

Training trusts nothing blindly: data that slipped past validation (a non-finite value, a label
outside the config, a file that does not parse) stops the job with the files named, before any
model sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
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


def night_of(path: str) -> str:
    """The night (partition date) of a data path: ``data/dt=2026-10-01/m1.parquet`` ->
    ``2026-10-01``; "" for a path outside a ``dt=`` partition."""
    first, sep, _ = path.removeprefix(DATA_PREFIX).partition("/")
    return first.removeprefix("dt=") if sep and first.startswith("dt=") else ""


def data_paths(ds: DatasetConfig, commit: str, clt: Any) -> dict[str, list[str]]:
    """The dataset's data files at the commit (sensor tables or images), by night."""
    suffixes = IMAGE_SUFFIXES if ds.modality == "image" else SENSOR_SUFFIXES
    out: dict[str, list[str]] = {}
    for path, _, _ in lakefs_io.list_paths(clt, ds.repository, commit, DATA_PREFIX):
        name = path.lower() if ds.modality == "image" else path
        if name.endswith(suffixes):
            out.setdefault(night_of(path), []).append(path)
    return out


def sensor_tables(
    ds: DatasetConfig, commit: str, clt: Any, paths: Iterable[str] | None = None
) -> Iterator[pd.DataFrame]:
    """Every sensor table at the commit (or of ``paths``), one file at a time. Unfit files are
    collected and raise :class:`UntrustedData` (every one named) once all files were read."""
    assert ds.sensor is not None
    refused, seen = [], 0
    if paths is None:
        paths = [p for night in data_paths(ds, commit, clt).values() for p in night]
    for path in paths:
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


def load_image_samples(
    ds: DatasetConfig, commit: str, clt: Any, wanted: Collection[str] = SPLITS, paths: Iterable[str] | None = None
) -> features.Samples:
    """Every image at the commit (or of ``paths``; of the ``wanted`` splits) as (1, H, W) arrays;
    labels from the folder, keys = sha256 of the bytes. Every image is read and decoded, kept or not."""
    import hashlib

    assert ds.image is not None
    index = {label: i for i, label in enumerate(ds.image.labels)}
    xs, ys, keys, refused, seen = [], [], [], [], 0
    if paths is None:
        paths = [p for night in data_paths(ds, commit, clt).values() for p in night]
    for path in paths:
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
    """The samples of each split, the plan that split them and the nights they were read from."""

    parts: dict[str, features.Samples]
    plan: splits.SplitPlan
    flat_windows_dropped: int = 0  # windows with a flat channel (validation.constant_channel: window)
    nights: list[str] | None = None  # the nights read, newest first (None: every night at the commit)

    def __getitem__(self, name: str) -> features.Samples:
        return self.parts[name]

    def items(self) -> Iterable[tuple[str, features.Samples]]:
        return self.parts.items()

    def since(self) -> str:
        """The oldest night read ("" when every night was): what a reproduction passes as ``since``."""
        return self.nights[-1] if self.nights else ""


def load_splits(
    ds: DatasetConfig,
    commit: str,
    clt: Any,
    record: bool = False,
    budget_mb: float | None = None,
    since: str | None = None,
) -> SplitSamples:
    """Samples of every split; the holdout is the same for every model evaluated on this commit.

    The split plan is the configured one, else the one recorded in lakeFS, else decided from the
    data at ``commit`` (and recorded when ``record``: the training job records, so the evaluation
    and later nights use the same). Sensor windows with a flat channel are left out with
    ``validation.constant_channel: window``. Raises :class:`~.splits.SplitUnfit` (with the counts) unless
    every class has samples in every split.

    Which nights are read: every one by default; the nights from ``since`` on (a reproduction);
    with ``budget_mb`` (the training, once a plan exists), the newest nights first, until their
    training samples fill the budget and every class has a sample in every split
    (:func:`newest_nights`): older nights are not read at all.
    """
    plan = known_plan(ds, clt)
    by_night = data_paths(ds, commit, clt)
    nights = sorted((n for n in by_night if since is None or n >= since), reverse=True)
    read: dict[str, Any] = {}  # night -> its table (sensors) or samples (images), read once
    if budget_mb is not None and since is None and plan is not None:
        block = plan.block_seconds if plan.unit == "time" else None

        def labels_and_keys(night: str) -> tuple[np.ndarray, np.ndarray]:
            got = read[night] = _read_night(ds, commit, clt, by_night[night])
            if ds.modality == "image":
                return got.y, got.keys
            assert ds.sensor is not None
            return features.window_labels(got, ds.sensor, block)

        nights = newest_nights(ds, budget_mb, nights, labels_and_keys)
    in_order = sorted(nights, key=lambda n: by_night[n][0])  # the files' order, as one read of them all
    if read:
        loaded = [read[n] for n in in_order]
    else:  # one read of every file: every bad file is named at once
        loaded = [_read_night(ds, commit, clt, [p for n in in_order for p in by_night[n]])]
    decided, dropped = False, 0
    if ds.modality == "image":
        assert plan is not None
        samples = features.concat(loaded)
        del loaded
        read.clear()
    else:
        assert ds.sensor is not None
        table = pd.concat(loaded, ignore_index=True)
        del loaded
        read.clear()  # the nights' own tables: only the concatenated one is windowed
        if plan is None:
            plan, decided = splits.decide_sensor_plan(ds, table, commit), True
        samples = _windows(ds, plan, table)
        if ds.validation.constant_channel == "window":
            flat = features.flat_windows(samples.x, ds.validation.min_channel_std)
            samples, dropped = samples.subset(~flat), int(flat.sum())
    parts = features.split(samples)
    splits.check_coverage(ds, plan, features.class_counts(parts, ds.labels))
    if decided and record:
        splits.write_record(clt, ds.repository, plan)
    every = since is None and len(nights) == len(by_night)
    return SplitSamples(parts, plan, dropped, None if every else nights)


def known_plan(ds: DatasetConfig, clt: Any) -> splits.SplitPlan | None:
    """The configured plan, else the one a training recorded (unless the config changed its unit
    since), else None: the data decides (:func:`~.splits.decide_sensor_plan`)."""
    plan = splits.configured_plan(ds)
    if plan is None:
        recorded = splits.read_record(clt, ds.repository)
        if recorded and ds.split.unit in ("auto", recorded.unit):
            plan = recorded
    return plan


def _read_night(ds: DatasetConfig, commit: str, clt: Any, paths: list[str]) -> Any:
    """The files ``paths``: one table (sensors, the files concatenated) or their samples (images)."""
    if ds.modality == "image":
        return load_image_samples(ds, commit, clt, paths=paths)
    return pd.concat(list(sensor_tables(ds, commit, clt, paths)), ignore_index=True)


def _windows(ds: DatasetConfig, plan: splits.SplitPlan, table: pd.DataFrame) -> features.Samples:
    assert ds.sensor is not None
    return features.sensor_windows(table, ds.sensor, plan.block_seconds if plan.unit == "time" else None)


def newest_nights(
    ds: DatasetConfig,
    budget_mb: float,
    nights: list[str],
    labels_and_keys: Callable[[str], tuple[np.ndarray, np.ndarray]],
    fill: str = "train",
    cover: Collection[str] = SPLITS,
) -> list[str]:
    """The newest of ``nights`` (newest first) whose ``fill`` samples, counted night by night,
    fill ``budget_mb`` and give every class a sample in every split of ``cover``; all of them
    when they never do. ``labels_and_keys`` reads a night: its samples' labels and unit keys. The
    count is per night (a window across midnight is not counted): it decides only where reading
    stops; the training's budget itself is applied to the samples then read
    (``training.within_budget``).
    """
    room = int(budget_mb * 2**20 // sample_bytes(ds))
    counts = {s: dict.fromkeys(ds.labels, 0) for s in SPLITS}
    taken: list[str] = []
    for night in nights:
        taken.append(night)
        for split, per_label in features.split_counts(*labels_and_keys(night), ds.labels).items():
            for label, n in per_label.items():
                counts[split][label] += n
        covered = all(n for s in cover for n in counts[s].values())
        if sum(counts[fill].values()) >= room and covered:
            break
    return taken


def sample_bytes(ds: DatasetConfig) -> int:
    """The size of one model input as float32: a window (channels x rows) or an image (1 x H x W)."""
    if ds.modality == "image":
        assert ds.image is not None
        return 4 * ds.image.size[0] * ds.image.size[1]
    assert ds.sensor is not None
    return 4 * len(ds.sensor.channels) * ds.sensor.window


def load_holdout(
    ds: DatasetConfig, commit: str, clt: Any, budget_mb: float | None = None, since: str | None = None
) -> SplitSamples:
    """The holdout alone (``parts`` has only ``holdout``), the same samples as
    ``load_splits(...)["holdout"]``, read file by file: the rows or images of other splits are let
    go as each file is read, so memory follows the holdout, not the commit. Every file read is
    checked (:class:`UntrustedData`).

    Which nights are read: every one by default; the nights from ``since`` on (a reproduction);
    with ``budget_mb`` (the evaluation: ``gate.holdout_budget_mb``), the newest nights first,
    until their holdout samples fill the budget and every class has one (:func:`newest_nights`):
    older nights are not read at all. The samples are then those of
    ``load_splits(..., since=<the oldest night read>)["holdout"]``; ``nights`` says which were read.

    Needs the plan: the configured one, else the one the training recorded; without either (no
    training recorded a plan yet) the whole commit is loaded to decide it, as :func:`load_splits`
    does. Raises :class:`~.splits.SplitUnfit` when a class has no holdout sample.
    """
    plan = known_plan(ds, clt)
    if plan is None:
        assert ds.modality == "sensor"  # images have a fixed plan (by the image's bytes)
        whole = load_splits(ds, commit, clt, since=since)
        return SplitSamples({"holdout": whole["holdout"]}, whole.plan, whole.flat_windows_dropped, whole.nights)
    by_night = data_paths(ds, commit, clt)
    nights = sorted((n for n in by_night if since is None or n >= since), reverse=True)
    block = plan.block_seconds if plan.unit == "time" else None
    spec = ds.sensor

    def read(paths: list[str]) -> Any:  # the held-out samples (images) or rows (sensors) of files
        if ds.modality == "image":
            return load_image_samples(ds, commit, clt, wanted=("holdout",), paths=paths)
        assert spec is not None
        return features.wanted_rows(sensor_tables(ds, commit, clt, paths), spec, block, {"holdout"})

    read_by_night: dict[str, Any] = {}
    if budget_mb is not None and since is None:

        def labels_and_keys(night: str) -> tuple[np.ndarray, np.ndarray]:
            got = read_by_night[night] = read(by_night[night])
            if ds.modality == "image":
                return got.y, got.keys
            assert spec is not None
            return features.window_labels(got.rows, spec, block)

        nights = newest_nights(ds, budget_mb, nights, labels_and_keys, fill="holdout", cover=("holdout",))
    in_order = sorted(nights, key=lambda n: by_night[n][0])  # the files' order, as one read of them all
    if read_by_night:
        parts = [read_by_night.pop(n) for n in in_order]
    else:  # one read of every file: every bad file is named at once
        parts = [read([p for n in in_order for p in by_night[n]])]
    dropped = 0
    if ds.modality == "image":
        holdout = features.concat(parts)
    else:
        assert spec is not None
        holdout = features.windows_of_rows(parts, spec, block)
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
    every = since is None and len(nights) == len(by_night)
    return SplitSamples({"holdout": holdout}, plan, dropped, None if every else nights)
