"""Read a dataset at an immutable lakeFS commit and turn it into split windows.

Training trusts nothing blindly: data that slipped past validation (a non-finite value, a label
outside the config, a file that does not parse) stops the job with the files named, before any
model sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import DatasetConfig, SensorSpec
from ..handoffs import SPLITS
from ..lake import lakefs_io
from ..lake.formats import IMAGE_SUFFIXES, SENSOR_SUFFIXES, image_array, read_sensor_file
from ..lake.lakefs_io import DATA_PREFIX
from . import derived, features, splits

# How samples are cut, tagged on every candidate (``samples.cut``): sensor windows from each
# night's files alone. Models trained before had their windows cut across the nights read.
SAMPLES_CUT = "per night"


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


def data_files(ds: DatasetConfig, commit: str, clt: Any) -> dict[str, dict[str, str]]:
    """The dataset's data files at the commit (sensor tables or images), by night: path -> checksum."""
    suffixes = IMAGE_SUFFIXES if ds.modality == "image" else SENSOR_SUFFIXES
    out: dict[str, dict[str, str]] = {}
    for path, _, checksum in lakefs_io.list_paths(clt, ds.repository, commit, DATA_PREFIX):
        name = path.lower() if ds.modality == "image" else path
        if name.endswith(suffixes):
            out.setdefault(night_of(path), {})[path] = checksum
    if not out:
        kind = "images" if ds.modality == "image" else "sensor files"
        raise ValueError(f"{ds.repository}@{commit[:12]}: no {kind} under {DATA_PREFIX}")
    return out


def untrusted(ds: DatasetConfig, commit: str, refused: list[str]) -> UntrustedData:
    """The error naming every file at the commit that no model may see."""
    kind = "images" if ds.modality == "image" else "files"
    return UntrustedData(
        f"dataset '{ds.name}': {len(refused)} {kind} at {ds.repository}@{commit[:12]} cannot be trained on "
        "(they should never have passed validation):\n  " + "\n  ".join(refused)
    )


def sensor_tables(
    ds: DatasetConfig,
    commit: str,
    clt: Any,
    paths: Iterable[str] | None = None,
    refused: list[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Every sensor table at the commit (or of ``paths``), one file at a time. Unfit files are
    collected and raise :class:`UntrustedData` (every one named) once all files were read; with
    ``refused``, they are appended to it instead (the caller raises), and no table is yielded
    once one file was refused."""
    assert ds.sensor is not None
    raising = refused is None
    refused = [] if refused is None else refused
    if paths is None:
        paths = [p for night in data_files(ds, commit, clt).values() for p in night]
    for path in paths:
        if path.endswith(SENSOR_SUFFIXES):
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
    if refused and raising:
        raise untrusted(ds, commit, refused)


def load_image_samples(
    ds: DatasetConfig,
    commit: str,
    clt: Any,
    wanted: Collection[str] = SPLITS,
    paths: Iterable[str] | None = None,
    refused: list[str] | None = None,
) -> features.Samples:
    """Every image at the commit (or of ``paths``; of the ``wanted`` splits) as (1, H, W) arrays;
    labels from the folder, keys = sha256 of the bytes. Every image is read and decoded, kept or not.
    Unfit images raise :class:`UntrustedData` (every one named); with ``refused``, they are
    appended to it instead (the caller raises)."""
    import hashlib

    assert ds.image is not None
    index = {label: i for i, label in enumerate(ds.image.labels)}
    raising = refused is None
    refused = [] if refused is None else refused
    xs, ys, keys = [], [], []
    if paths is None:
        paths = [p for night in data_files(ds, commit, clt).values() for p in night]
    for path in paths:
        if not path.lower().endswith(IMAGE_SUFFIXES):
            continue
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
    if refused and raising:
        raise untrusted(ds, commit, refused)
    if not xs:
        return _no_samples(ds)
    return features.Samples(np.stack(xs), np.asarray(ys, np.int64), np.asarray(keys, dtype=object))


@dataclass
class SplitSamples:
    """The samples of each split, the plan that split them and the nights they were read from."""

    parts: dict[str, features.Samples]
    plan: splits.SplitPlan
    flat_windows_dropped: int = 0  # windows with a flat channel (validation.constant_channel: window)
    nights: list[str] | None = None  # the nights read, newest first (None: every night at the commit)
    from_shards: list[str] = field(default_factory=list)  # nights read from their derived shard
    cut: list[str] = field(default_factory=list)  # nights cut from their files
    derived: list[str] = field(default_factory=list)  # of those, the nights whose shard was written
    keys: dict[str, str] = field(default_factory=dict)  # night -> the key of its shard (derived.shard_key)
    in_order: list[str] = field(default_factory=list)  # the nights read, in the order their samples are
    night_sizes: dict[str, dict[str, int]] = field(default_factory=dict)  # night -> split -> samples cut
    unflat: dict[str, np.ndarray] = field(default_factory=dict)  # split -> positions kept by _drop_flat

    def __getitem__(self, name: str) -> features.Samples:
        return self.parts[name]

    def items(self) -> Iterable[tuple[str, features.Samples]]:
        return self.parts.items()

    def since(self) -> str:
        """The oldest night read ("" when every night was): what a reproduction passes as ``since``."""
        return self.nights[-1] if self.nights else ""

    def sources(self) -> str:
        """Where the nights' samples came from, for a log line."""
        out = f"{len(self.from_shards)} night(s) read from their derived shard, {len(self.cut)} cut from their files"
        return out + (f" (their shards written to lakeFS branch '{derived.DERIVED_BRANCH}')" if self.derived else "")

    def shards(self) -> list[tuple[str, str, dict[str, int]]]:
        """(night, shard key, samples per split) of every night read, in the order of the samples:
        what :func:`read_shard_samples` reads the same samples from. Every night must have its shard
        (read from it, or cut and written: ``load_splits(record=True)``)."""
        unkept = [n for n in self.in_order if n not in self.from_shards and n not in self.derived]
        if unkept:
            raise ValueError(f"nights {unkept} were cut but not kept as shards (load_splits(record=True) keeps them)")
        return [(n, self.keys[n], self.night_sizes[n]) for n in self.in_order]

    def shard_positions(self, split: str, index: np.ndarray | None = None) -> np.ndarray:
        """Where the samples of ``split`` (those at ``index`` among them) are in the nights'
        shards laid end to end (:meth:`shards`' order): windows with a flat channel skipped."""
        kept = self.unflat.get(split)
        positions = np.arange(len(self.parts[split])) if kept is None else kept
        return positions if index is None else positions[index]


class _Nights:
    """A night's samples: read from its derived shard when one exists for exactly its files and
    this recipe, else cut from its files (the shard is then written when ``write``). A night's
    samples come from that night's files alone: a window never crosses midnight's partition edge,
    and each machine's median interval is taken over the night's timestamps."""

    def __init__(
        self,
        ds: DatasetConfig,
        commit: str,
        clt: Any,
        files: dict[str, dict[str, str]],
        plan: splits.SplitPlan,
        write: bool,
        read: bool = True,
    ) -> None:
        self.ds, self.commit, self.clt, self.files, self.plan = ds, commit, clt, files, plan
        self.write, self.read = write, read
        self.refused: list[str] = []  # unfit files of the nights read from their files
        self.from_shards: list[str] = []
        self.cut: list[str] = []
        self.derived: list[str] = []
        self.keys: dict[str, str] = {}  # night -> its shard's key

    def samples(
        self, night: str, wanted: Collection[str] = SPLITS, table: pd.DataFrame | None = None
    ) -> dict[str, features.Samples]:
        """The night's samples of the ``wanted`` splits (``table``: its files, already read)."""
        ds, plan = self.ds, self.plan
        key = self.keys[night] = derived.shard_key(ds, plan, self.files[night])
        if table is None and self.read:
            shard = derived.read(self.clt, ds.repository, night, key, wanted)
            if shard is not None:
                self.from_shards.append(night)
                return shard
        paths = list(self.files[night])
        every = self.write or set(wanted) == set(SPLITS)  # a shard holds every split
        got: features.Samples | None = None
        if ds.modality == "image":
            got = load_image_samples(ds, self.commit, self.clt, SPLITS if every else wanted, paths, self.refused)
        else:
            assert ds.sensor is not None
            block = plan.block_seconds if plan.unit == "time" else None
            tables = [table] if table is not None else sensor_tables(ds, self.commit, self.clt, paths, self.refused)
            if every:
                frames = list(tables)
                if not self.refused:
                    got = features.sensor_windows(pd.concat(frames, ignore_index=True), ds.sensor, block)
            else:  # only the wanted splits' rows are kept as each file is read
                rows = features.wanted_rows(tables, ds.sensor, block, set(wanted))
                got = features.windows_of_rows([rows], ds.sensor, block)
        if got is None or self.refused:
            return {s: _no_samples(ds) for s in wanted}  # the caller raises with every unfit file named
        self.cut.append(night)
        parts_by_split = features.split(got)
        if self.write:
            derived.write(self.clt, ds.repository, night, key, parts_by_split, self.commit)
            self.derived.append(night)
        return {s: parts_by_split[s] for s in wanted}

    def raise_refused(self) -> None:
        if self.refused:
            raise untrusted(self.ds, self.commit, self.refused)


def _no_samples(ds: DatasetConfig) -> features.Samples:
    """No samples, in the shape of the dataset's model inputs."""
    if ds.modality == "image":
        assert ds.image is not None
        shape: tuple[int, ...] = (0, 1, *ds.image.size)
    else:
        assert ds.sensor is not None
        shape = (0, len(ds.sensor.channels), ds.sensor.window)
    return features.Samples(np.zeros(shape, np.float32), np.zeros(0, np.int64), np.zeros(0, dtype=object))


def _drop_flat(ds: DatasetConfig, parts: dict[str, features.Samples], kept: dict[str, np.ndarray] | None = None) -> int:
    """Leave out sensor windows with a flat channel (``validation.constant_channel: window``);
    ``kept`` gets the positions of the windows kept, per split."""
    if ds.modality != "sensor" or ds.validation.constant_channel != "window":
        return 0
    dropped = 0
    for name, samples in parts.items():
        flat = features.flat_windows(samples.x, ds.validation.min_channel_std)
        parts[name], dropped = samples.subset(~flat), dropped + int(flat.sum())
        if kept is not None:
            kept[name] = np.flatnonzero(~flat)
    return dropped


def _nights_since(ds: DatasetConfig, commit: str, files: dict[str, dict[str, str]], since: str | None) -> list[str]:
    """The nights at the commit from ``since`` on (every one without), newest first."""
    nights = sorted((n for n in files if since is None or n >= since), reverse=True)
    if not nights:
        raise ValueError(
            f"dataset '{ds.name}': no night at {ds.repository}@{commit[:12]} from {since} on "
            f"(the newest is {max(files)})"
        )
    return nights


def _in_file_order(nights: Iterable[str], files: dict[str, dict[str, str]]) -> list[str]:
    """The nights in their files' order (the order of one listing of them all)."""
    return sorted(nights, key=lambda n: next(iter(files[n])))


def load_splits(
    ds: DatasetConfig,
    commit: str,
    clt: Any,
    record: bool = False,
    budget_mb: float | None = None,
    since: str | None = None,
    shards: bool = True,
) -> SplitSamples:
    """Samples of every split; the holdout is the same for every model evaluated on this commit.

    The split plan is the configured one, else the one recorded in lakeFS, else decided from the
    data at ``commit`` (and recorded when ``record``: the training job records, so the evaluation
    and later nights use the same). Sensor windows with a flat channel are left out with
    ``validation.constant_channel: window``. Raises :class:`~.splits.SplitUnfit` (with the counts) unless
    every class has samples in every split.

    Each night's samples are cut from that night's files alone, or read from the night's derived
    shard (:mod:`.derived`) when one exists for exactly those files (unless ``shards`` is False:
    the benches' baseline); with ``record``, the shards of the nights cut from their files are written.

    Which nights are read: every one by default; the nights from ``since`` on (a reproduction);
    with ``budget_mb`` (the training, once a plan exists), the newest nights first, until their
    training samples fill the budget and every class has a sample in every split
    (:func:`newest_nights`): older nights are not read at all.
    """
    plan = known_plan(ds, clt)
    files = data_files(ds, commit, clt)
    nights = _nights_since(ds, commit, files, since)
    got: dict[str, dict[str, features.Samples]] = {}
    decided = False
    if plan is None:  # sensors only (images have a fixed plan): every night read whole decides it
        paths = [p for n in _in_file_order(nights, files) for p in files[n]]
        tables = list(sensor_tables(ds, commit, clt, paths))  # one read: every bad file is named at once
        table = pd.concat(tables, ignore_index=True)
        plan, decided = splits.decide_sensor_plan(ds, table, commit), True
        del table
        reader = _Nights(ds, commit, clt, files, plan, record)
        by_night: dict[str, list[pd.DataFrame]] = {}
        for path, frame in zip(paths, tables, strict=True):  # sensor_tables raised unless every file was fit
            by_night.setdefault(night_of(path), []).append(frame)
        del tables
        for night in _in_file_order(nights, files):
            got[night] = reader.samples(night, table=pd.concat(by_night.pop(night), ignore_index=True))
    else:
        reader = _Nights(ds, commit, clt, files, plan, record, shards)
        if budget_mb is not None and since is None:

            def labels_and_keys(night: str) -> tuple[np.ndarray, np.ndarray]:
                got[night] = reader.samples(night)
                reader.raise_refused()  # the unfit files of the night being read
                return _labels_and_keys(got[night].values())

            nights = newest_nights(ds, budget_mb, nights, labels_and_keys)
        else:
            for night in nights:
                got[night] = reader.samples(night)
            reader.raise_refused()  # every unfit file of every night named at once
    in_order = _in_file_order(nights, files)
    sizes = {n: {s: len(got[n][s]) for s in SPLITS} for n in in_order}
    parts = {s: features.concat([got[n][s] for n in in_order]) for s in SPLITS}
    got.clear()
    unflat: dict[str, np.ndarray] = {}
    dropped = _drop_flat(ds, parts, unflat)
    splits.check_coverage(ds, plan, features.class_counts(parts, ds.labels))
    if decided and record:
        splits.write_record(clt, ds.repository, plan)
    every = since is None and len(nights) == len(files)
    return SplitSamples(
        parts,
        plan,
        dropped,
        None if every else nights,
        reader.from_shards,
        reader.cut,
        reader.derived,
        reader.keys,
        in_order,
        sizes,
        unflat,
    )


class ShardMismatch(RuntimeError):
    """A derived shard a job was told to read is gone, or holds other samples than it was told."""


def read_shard_samples(
    ds: DatasetConfig,
    clt: Any,
    shards: Iterable[tuple[str, str, dict[str, int]]],
    positions: dict[str, np.ndarray],
) -> dict[str, features.Samples]:
    """The samples at ``positions`` (per split, ascending: :meth:`SplitSamples.shard_positions`)
    of the nights' derived shards laid end to end (``shards``: :meth:`SplitSamples.shards`). Night
    by night: a night's shard is let go once its samples are taken, so memory is what is kept plus
    one night, and twice what is kept while the nights' pieces are joined. What a Tune trial reads
    (#15 part 3). Raises :class:`ShardMismatch` when a shard
    is gone or holds another number of samples than ``shards`` says."""
    taken: dict[str, list[features.Samples]] = {s: [] for s in positions}
    start = dict.fromkeys(positions, 0)
    where = f"lakeFS branch '{derived.DERIVED_BRANCH}' of {ds.repository}"
    for night, key, sizes in shards:
        shard = derived.read(clt, ds.repository, night, key, positions)
        if shard is None:
            raise ShardMismatch(
                f"dataset '{ds.name}': the samples of night {night or 'undated'} are not on {where} "
                f"({derived.shard_prefix(night, key)}), where the training's driver wrote or found them: "
                "was the branch deleted or reset meanwhile?"
            )
        for split, wanted in positions.items():
            samples, end = shard.pop(split), start[split] + sizes[split]
            if len(samples) != sizes[split]:
                raise ShardMismatch(
                    f"dataset '{ds.name}': the {split} shard of night {night or 'undated'} on {where} holds "
                    f"{len(samples)} samples, the training's driver read {sizes[split]}"
                )
            lo, hi = np.searchsorted(wanted, [start[split], end])
            taken[split].append(samples.subset(wanted[lo:hi] - start[split]))
            start[split] = end
    return {s: features.concat(p) for s, p in taken.items()}


def fingerprint(samples: features.Samples) -> str:
    """A hash of the samples' labels and unit keys, in order: two reads of the same samples agree."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(samples.y, dtype=np.int64).tobytes())
    digest.update("\0".join(str(k) for k in samples.keys).encode())
    return digest.hexdigest()


def _labels_and_keys(parts: Iterable[features.Samples]) -> tuple[np.ndarray, np.ndarray]:
    """The labels and unit keys of samples of several splits (no value copied)."""
    parts = list(parts)
    return np.concatenate([p.y for p in parts]), np.concatenate([p.keys for p in parts])


def known_plan(ds: DatasetConfig, clt: Any) -> splits.SplitPlan | None:
    """The configured plan, else the one a training recorded (unless the config changed its unit
    since), else None: the data decides (:func:`~.splits.decide_sensor_plan`)."""
    plan = splits.configured_plan(ds)
    if plan is None:
        recorded = splits.read_record(clt, ds.repository)
        if recorded and ds.split.unit in ("auto", recorded.unit):
            plan = recorded
    return plan


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
    when they never do. ``labels_and_keys`` reads a night: its samples' labels and unit keys. A
    night's samples are its own (:class:`_Nights`), so the count is exact: it decides where reading
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
    ds: DatasetConfig,
    commit: str,
    clt: Any,
    budget_mb: float | None = None,
    since: str | None = None,
    shards: bool = True,
    record: bool = False,
) -> SplitSamples:
    """The holdout alone (``parts`` has only ``holdout``), the same samples as
    ``load_splits(...)["holdout"]``: a night's holdout shard when one exists (:mod:`.derived`),
    else its files read one by one, the rows or images of other splits let go as each file is
    read, so memory follows the holdout, not the commit. Every file read is checked
    (:class:`UntrustedData`).

    Which nights are read: every one by default; the nights from ``since`` on (a reproduction);
    with ``budget_mb`` (the evaluation: ``gate.holdout_budget_mb``), the newest nights first,
    until their holdout samples fill the budget and every class has one (:func:`newest_nights`):
    older nights are not read at all. The samples are then those of
    ``load_splits(..., since=<the oldest night read>)["holdout"]``; ``nights`` says which were read.

    With ``record`` (the evaluation job), a night cut from its files is cut whole and its shard
    written, as the training does: the holdout budget reaches older nights than the training's,
    and the next evaluation reads them from their shards instead of cutting them again.

    Needs the plan: the configured one, else the one the training recorded; without either (no
    training recorded a plan yet) the whole commit is loaded to decide it, as :func:`load_splits`
    does. Raises :class:`~.splits.SplitUnfit` when a class has no holdout sample.
    """
    plan = known_plan(ds, clt)
    if plan is None:
        assert ds.modality == "sensor"  # images have a fixed plan (by the image's bytes)
        whole = load_splits(ds, commit, clt, since=since)
        return SplitSamples(
            {"holdout": whole["holdout"]},
            whole.plan,
            whole.flat_windows_dropped,
            whole.nights,
            whole.from_shards,
            whole.cut,
        )
    files = data_files(ds, commit, clt)
    nights = _nights_since(ds, commit, files, since)
    reader = _Nights(ds, commit, clt, files, plan, write=record and shards, read=shards)
    got: dict[str, features.Samples] = {}
    if budget_mb is not None and since is None:

        def labels_and_keys(night: str) -> tuple[np.ndarray, np.ndarray]:
            got[night] = reader.samples(night, ("holdout",))["holdout"]
            reader.raise_refused()
            return got[night].y, got[night].keys

        nights = newest_nights(ds, budget_mb, nights, labels_and_keys, fill="holdout", cover=("holdout",))
    else:
        for night in nights:
            got[night] = reader.samples(night, ("holdout",))["holdout"]
        reader.raise_refused()  # every unfit file of every night named at once
    parts = {"holdout": features.concat([got.pop(n) for n in _in_file_order(nights, files)])}
    dropped = _drop_flat(ds, parts)
    holdout = parts["holdout"]
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
    every = since is None and len(nights) == len(files)
    return SplitSamples(
        {"holdout": holdout}, plan, dropped, None if every else nights, reader.from_shards, reader.cut, reader.derived
    )
