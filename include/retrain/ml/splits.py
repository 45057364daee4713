"""Which samples train, which validate and which are held out: the split plan of a dataset.

A sample's split is a hash of its *unit*, so it never changes as data grows:

* ``image``: the image itself (its sha256);
* ``asset``: every window of one machine goes to one split (the holdout measures unseen machines);
* ``time``: every window of one machine within one fixed block of time (epoch-aligned, e.g. one
  UTC day) goes to one split; a window never straddles two blocks. Fleets too small to hold whole
  machines out (one machine streaming for weeks, 4 or 6 devices) still get a leak-free holdout.

For sensors with ``split.unit: auto`` the plan is decided once, from the data of the first
training: ``asset`` when every class is on at least ``MIN_UNITS_PER_CLASS`` machines, else
``time`` with the longest block (longer blocks leak less between neighbouring windows) that gives
every class ``MIN_UNITS_PER_CLASS`` units and puts it in every split. With
``validation.constant_channel: window`` only the rows outside flat stretches count (training leaves
those windows out). The decision is recorded in lakeFS (branch ``SPLIT_BRANCH``, never main) so
later nights, the evaluation and a reproduction use the same plan; an explicit ``split`` in
datasets.yaml always wins over the record.

Every class must then have samples in train, val and holdout, or :class:`SplitUnfit` names the
classes, splits and counts before any training (a deterministic error: no retry).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..config import DatasetConfig, SensorSpec
from ..handoffs import SPLITS

# Cumulative bounds of the stable split: 70 % train, 15 % val, 15 % holdout.
BOUNDS = (0.70, 0.85)
# Units of one class the auto plan asks for: with 15 % of the units in val (and in holdout), a
# class on 20 units misses one of them with probability about 2 x 0.85^20 = 8 %; the plan then
# tries shorter blocks, which give more units.
MIN_UNITS_PER_CLASS = 20
# Candidate block lengths of the time unit, in seconds: 1 s .. 7 days.
BLOCK_LADDER_S = (1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
# A block holds at least this many window lengths, so cutting windows at block edges loses little.
MIN_WINDOWS_PER_BLOCK = 4
SPLIT_BRANCH = "retrain-split-plan"
SPLIT_RECORD = "split-plan.json"


class SplitUnfit(ValueError):
    """The data cannot give every class a train, val and holdout sample; the message has the counts."""


@dataclass(frozen=True)
class SplitPlan:
    unit: str  # image | asset | time
    block_seconds: float | None = None  # the time unit's block length
    reason: str = ""
    decided_at: str = ""  # the lakeFS commit whose data decided it ("" for a configured plan)

    def describe(self) -> str:
        if self.unit == "time":
            return f"by machine and time block of {_duration(float(self.block_seconds or 0))}"
        return f"by {self.unit}"

    def unit_name(self) -> str:
        """What one held-out unit is, for people: "machine", "machine x 1 d block", "image"."""
        if self.unit == "time":
            return f"machine x {_duration(float(self.block_seconds or 0))} block"
        return {"asset": "machine"}.get(self.unit, self.unit)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SplitPlan:
        return cls(**json.loads(text))


def split_of(key: str) -> str:
    """The split of a unit key (asset id, ``asset|block start``, or an image's sha256)."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "train" if h < BOUNDS[0] else ("val" if h < BOUNDS[1] else "holdout")


def _duration(seconds: float) -> str:
    for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {name}"
    return f"{seconds:g} s"


def configured_plan(ds: DatasetConfig) -> SplitPlan | None:
    """The plan datasets.yaml fixes, or None when it leaves the choice to the data (``auto``)."""
    if ds.modality == "image":
        return SplitPlan("image", reason="images are held out one by one (by content hash)")
    if ds.split.unit == "asset":
        return SplitPlan("asset", reason="split.unit: asset in datasets.yaml")
    if ds.split.unit == "time" and ds.split.block_minutes:
        return SplitPlan("time", ds.split.block_minutes * 60, "split.unit: time in datasets.yaml")
    return None


def median_interval_s(table: pd.DataFrame, asset: str, timestamp: str) -> float:
    """The median time between consecutive samples of one machine, in seconds (1.0 if unknown)."""
    ordered = table.sort_values([asset, timestamp], kind="stable")
    machine = ordered[asset].to_numpy()
    steps = np.diff(nanoseconds(ordered[timestamp]))[machine[1:] == machine[:-1]]
    steps = steps[steps > 0]
    return float(np.median(steps)) / 1e9 if len(steps) else 1.0


def nanoseconds(ts: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch of a timestamp column (UTC datetimes of any resolution; naive
    datetimes are UTC)."""
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = pd.to_datetime(ts, utc=True)
    return ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")).to_numpy(dtype=np.int64)


def block_starts(ns: np.ndarray, block_seconds: float) -> np.ndarray:
    """The epoch-aligned start (ns) of the time block of each timestamp (ns)."""
    size = round(block_seconds * 1e9)
    return (ns // size) * size


def _split_rows(table: pd.DataFrame, keys: pd.Series, label: str) -> pd.DataFrame:
    """Rows per (label, split) and units per label, for the unit keys of every row."""
    unique = pd.unique(keys)
    split = pd.Series({k: split_of(str(k)) for k in unique})
    frame = pd.DataFrame({"label": table[label].to_numpy(), "unit": keys.to_numpy()})
    frame["split"] = split.reindex(frame["unit"]).to_numpy()
    return frame


def _fits(frame: pd.DataFrame, labels: list[str]) -> tuple[bool, int]:
    """(every label in every split, fewest units of one label)."""
    present = frame.groupby(["label", "split"]).size()
    every = all((lab, s) in present.index for lab in labels for s in SPLITS)
    units = frame.groupby("label")["unit"].nunique().reindex(labels, fill_value=0)
    return every, int(units.min())


def flat_stretches(table: pd.DataFrame, spec: SensorSpec, min_std: float) -> np.ndarray:
    """Which rows lie in a stretch where a channel is flat: each machine's rows in time order are
    tiled by window lengths, and a tile with a channel whose std is below ``min_std`` is flat.

    An estimate of the rows whose windows training leaves out (``validation.constant_channel:
    window`` drops each window with a flat channel): windows start every ``stride`` rows and break at
    label changes and gaps, tiles do not. Cheap and vectorised, for the plan's counts only."""
    positions = np.arange(len(table))
    ordered = table.assign(_position=positions).sort_values([spec.asset_column, spec.timestamp_column], kind="stable")
    machine = ordered[spec.asset_column].astype(str)
    tile = ordered.groupby(machine, sort=False).cumcount().to_numpy() // max(spec.window, 1)
    spread = ordered[spec.channels].astype("float64").groupby([machine.to_numpy(), tile]).transform("std", ddof=0)
    flat = np.zeros(len(table), bool)
    flat[ordered["_position"].to_numpy()] = (spread.fillna(0.0).to_numpy() < min_std).any(axis=1)
    return flat


def decide_sensor_plan(ds: DatasetConfig, table: pd.DataFrame, commit: str) -> SplitPlan:
    """The auto plan for a sensor table (see the module docstring for the rule); with
    ``split.unit: time`` and no ``block_minutes``, the block length only. With
    ``validation.constant_channel: window`` it counts only the rows outside flat stretches
    (:func:`flat_stretches`): the windows training keeps."""
    spec = ds.sensor
    assert spec is not None
    window_s = spec.window * median_interval_s(table, spec.asset_column, spec.timestamp_column)
    flat = (
        flat_stretches(table, spec, ds.validation.min_channel_std)
        if ds.validation.constant_channel == "window"
        else np.zeros(len(table), bool)
    )
    if not flat.any():
        return _decide(ds, spec, table, commit, window_s)
    plan = _decide(ds, spec, table[~flat], commit, window_s)
    note = f"{int(flat.sum())} of {len(table)} rows lie in stretches with a flat channel and were not counted"
    return replace(plan, reason=f"{plan.reason}; {note}")


def _decide(ds: DatasetConfig, spec: SensorSpec, table: pd.DataFrame, commit: str, window_s: float) -> SplitPlan:
    labels = [lab for lab in spec.labels if (table[spec.label_column] == lab).any()]
    assets = table[spec.asset_column].astype(str)
    every, fewest = _fits(_split_rows(table, assets, spec.label_column), labels)
    if ds.split.unit != "time" and every and fewest >= MIN_UNITS_PER_CLASS:
        return SplitPlan("asset", reason=f"every class is on at least {fewest} machines", decided_at=commit)
    ns = nanoseconds(table[spec.timestamp_column])
    covering: list[tuple[int, int]] = []  # (block seconds, fewest units of a class) of blocks that cover
    for block in sorted((b for b in BLOCK_LADDER_S if b >= MIN_WINDOWS_PER_BLOCK * window_s), reverse=True):
        keys = assets + "|" + pd.Series(block_starts(ns, block), index=table.index).astype(str)
        every, fewest = _fits(_split_rows(table, keys, spec.label_column), labels)
        if not every:
            continue
        if fewest >= MIN_UNITS_PER_CLASS:
            why = f"too few machines per class to hold some out; blocks of {_duration(block)} give every class {fewest}"
            return SplitPlan("time", float(block), why, commit)
        covering.append((block, fewest))
    if covering:
        block, fewest = max(covering, key=lambda c: (c[1], c[0]))
        why = (
            f"too few machines per class to hold some out; blocks of {_duration(block)} put every class in every "
            f"split (only {fewest} units for the rarest class: the holdout is small)"
        )
        return SplitPlan("time", float(block), why, commit)
    shortest = min((b for b in BLOCK_LADDER_S if b >= MIN_WINDOWS_PER_BLOCK * window_s), default=BLOCK_LADDER_S[-1])
    return SplitPlan("time", float(shortest), "no block length puts every class in every split", commit)


def read_record(clt: Any, repository: str) -> SplitPlan | None:
    """The recorded plan of a repository, if a training recorded one."""
    import lakefs
    from lakefs.exceptions import NotFoundException

    repo = lakefs.Repository(repository, client=clt)
    try:
        with repo.branch(SPLIT_BRANCH).object(SPLIT_RECORD).reader(mode="r") as fh:
            return SplitPlan.from_json(str(fh.read()))
    except NotFoundException:
        return None


def write_record(clt: Any, repository: str, plan: SplitPlan) -> None:
    """Record the plan on its own branch (main only ever moves by merging validated data)."""
    import lakefs

    repo = lakefs.Repository(repository, client=clt)
    branch = repo.branch(SPLIT_BRANCH).create(source_reference="main", exist_ok=True)
    branch.object(SPLIT_RECORD).upload(data=plan.to_json().encode(), mode="wb", content_type="application/json")
    branch.commit(message=f"split plan: {plan.describe()}", metadata={"decided_at": plan.decided_at})


def check_coverage(ds: DatasetConfig, plan: SplitPlan, counts: dict[str, dict[str, int]]) -> None:
    """Raise :class:`SplitUnfit` unless every class with data has samples in every split."""
    labels = ds.labels
    totals = {lab: sum(counts[s][lab] for s in SPLITS) for lab in labels}
    absent = [lab for lab in labels if totals[lab] == 0]
    gaps = [(lab, s) for lab in labels if totals[lab] for s in SPLITS if counts[s][lab] == 0]
    if not absent and not gaps:
        return
    table = ", ".join(f"{lab} {'/'.join(str(counts[s][lab]) for s in SPLITS)}" for lab in labels)
    problems = [f"no samples of '{lab}' at all" for lab in absent]
    for s in SPLITS:
        short = [f"'{lab}'" for lab, split in gaps if split == s]
        if short:
            problems.append(f"no {s} samples of {', '.join(short)}")
    hint = (
        "land data of the missing classes"
        if ds.modality == "image" or plan.unit == "asset"
        else "land more data of these classes, or set a shorter split.block_minutes in datasets.yaml"
    )
    raise SplitUnfit(
        f"dataset '{ds.name}': split {plan.describe()} ({plan.reason}): "
        + "; ".join(problems)
        + f". Samples per class (train/val/holdout): {table}. Nothing was trained; {hint}."
    )
