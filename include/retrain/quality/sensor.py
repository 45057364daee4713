"""Sensor files: structural checks, then Great Expectations 1.x on per-file statistics.

A file that cannot be parsed or lacks required columns fails the structural checks. Every
other file is reduced to one row of statistics (null counts, min/max/stdev per channel, unknown
labels, repeated timestamps, the shortest asset), computed with vectorised code, and GX checks
this table in one batch (``statistics_expectations``): one checkpoint per run instead of one per
file. A file whose statistics fail is then checked row by row with the
per-row suite (``expectations``), whose results give its reasons and its own Data Docs page.
Any failure makes the file bad: it is quarantined (removed from the run branch) and listed with
its reasons. The run fails when the bad fraction exceeds ``validation.max_bad_fraction`` or
nothing valid remains.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import DatasetConfig, SensorSpec
from ..lake.formats import read_sensor_file
from ..pipelining import map_in_order
from .report import FileResult, Files, GXRun, Reread, ValidationReport, file_stream

log = logging.getLogger(__name__)
NUMERIC_TYPES = ["float64", "float32", "int64", "int32", "Float64", "Int64", "double", "float", "int"]
FINITE = 1e12  # bound for channels without a configured range: catches inf


def structural_problems(df: pd.DataFrame, spec: SensorSpec) -> list[str]:
    required = [spec.asset_column, spec.timestamp_column, *spec.channels, spec.label_column]
    missing = [c for c in required if c not in df.columns]
    if missing:
        return [f"missing columns {missing} (expected: {', '.join(required)})"]
    problems = []
    for c in spec.channels:
        if not pd.api.types.is_numeric_dtype(df[c]):
            problems.append(f"channel '{c}' is {df[c].dtype}, expected numbers")
    if df[spec.timestamp_column].isna().any():
        problems.append(f"{int(df[spec.timestamp_column].isna().sum())} timestamps do not parse")
    if df.empty:
        problems.append("file has no rows")
    return problems


def _with_derived_columns(df: pd.DataFrame, spec: SensorSpec) -> pd.DataFrame:
    """Per-asset facts GX checks as plain columns: increasing timestamps (the rows are sorted when
    read, so a timestamp that does not increase repeats the one before), rows per asset."""
    out = df.copy()
    ts = out[spec.timestamp_column]
    grouped = ts.groupby(out[spec.asset_column], sort=False)
    previous = grouped.shift(1)
    out["_timestamp_increases"] = previous.isna() | (ts > previous)
    out["_rows_of_asset"] = grouped.transform("size").astype("int64")
    return out


def expectations(ds: DatasetConfig) -> list[Any]:
    """The per-file suite: required columns, numeric and finite channels in range, no dead sensor
    (with ``validation.constant_channel: file``), known labels, no repeated timestamp per asset,
    enough rows for a window."""
    from great_expectations import expectations as E

    spec, v = ds.sensor, ds.validation
    assert spec is not None
    out: list[Any] = [E.ExpectColumnValuesToNotBeNull(column=c) for c in (spec.asset_column, spec.timestamp_column)]
    out.append(E.ExpectColumnValuesToNotBeNull(column=spec.label_column))
    for ch in spec.channels:
        low, high = v.ranges.get(ch, (-FINITE, FINITE))
        out += [
            E.ExpectColumnValuesToBeInTypeList(column=ch, type_list=NUMERIC_TYPES),
            E.ExpectColumnValuesToNotBeNull(column=ch),
            E.ExpectColumnValuesToBeBetween(column=ch, min_value=low, max_value=high),
        ]
        if v.constant_channel == "file":
            out.append(E.ExpectColumnStdevToBeBetween(column=ch, min_value=v.min_channel_std))
    out += [
        E.ExpectColumnValuesToBeInSet(column=spec.label_column, value_set=list(spec.labels)),
        E.ExpectColumnValuesToBeInSet(column="_timestamp_increases", value_set=[True]),
        E.ExpectColumnMinToBeBetween(column="_rows_of_asset", min_value=spec.window),
    ]
    return out


def _reason(result: Any, spec: SensorSpec, ds: DatasetConfig) -> str | None:
    cfg = result.expectation_config
    kind, col = cfg.type, cfg.kwargs.get("column")
    r = result.result or {}
    n = r.get("unexpected_count")
    examples = [x for x in (r.get("partial_unexpected_list") or [])[:3]]
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"{kind} on '{col}' could not run: {result.exception_info.get('exception_message')}"
    if kind == "expect_column_values_to_not_be_null":
        return f"null values in '{col}' ({n} rows)"
    if kind == "expect_column_values_to_be_between":
        low, high = cfg.kwargs.get("min_value"), cfg.kwargs.get("max_value")
        rng = f"[{low}, {high}]" if abs(high) < FINITE else "finite values"
        return f"out of range: '{col}' has {n} values outside {rng}, e.g. {examples}"
    if kind == "expect_column_stdev_to_be_between":
        std = r.get("observed_value")
        if std is None or not np.isfinite(std):
            return None  # follows from null or infinite values, reported by their own checks
        return f"dead sensor: '{col}' is constant (std {std:.2g} < {ds.validation.min_channel_std:g})"
    if kind == "expect_column_values_to_be_in_type_list":
        return f"'{col}' has non-numeric values"
    if kind == "expect_column_values_to_be_in_set" and col == spec.label_column:
        return f"unknown labels {sorted(set(examples))} in {n} rows (allowed: {', '.join(spec.labels)})"
    if col == "_timestamp_increases":  # rows are sorted when read: what is left are repeated instants
        return f"{n} rows repeat a timestamp of their asset with different values (exact duplicate rows are dropped)"
    if col == "_rows_of_asset":
        return f"too few rows: an asset has {r.get('observed_value')} rows, one window needs {spec.window}"
    return f"{kind} failed on '{col}'"


def flat_channel_notes(df: pd.DataFrame, ds: DatasetConfig) -> list[str]:
    """Notes on channels constant over the whole file (not a refusal with ``constant_channel: window``)."""
    assert ds.sensor is not None
    out = []
    for ch in ds.sensor.channels:
        std = float(pd.to_numeric(df[ch], errors="coerce").std(ddof=0))
        if np.isfinite(std) and std < ds.validation.min_channel_std:
            out.append(
                f"channel '{ch}' is constant over the file (std {std:.2g}): its windows are left out of "
                "training (validation.constant_channel: window)"
            )
    return out


# Threads that parse files and compute their statistics (pyarrow and NumPy release the GIL), and
# how many files, and how many of their bytes, may be parsing or wait parsed ahead of the one being
# recorded (bounds memory: large files are parsed a few at a time).
PARSE_THREADS = max(2, min(8, os.cpu_count() or 2))
PARSE_AHEAD = 4 * PARSE_THREADS
PARSE_AHEAD_BYTES = 256 * 2**20


def file_statistics(df: pd.DataFrame, spec: SensorSpec) -> dict[str, Any]:
    """One row of facts about a parsed file, each what a row-level expectation would find.

    ``df`` is what ``read_sensor_file`` returns: sorted by asset and timestamp, exact duplicates
    dropped. A channel's stdev is pandas' (sample stdev, nulls skipped), as GX computes it.
    """
    row: dict[str, Any] = {"rows": len(df)}
    for c in (spec.asset_column, spec.timestamp_column, spec.label_column):
        row[f"{c}__nulls"] = int(df[c].isna().sum())
    for ch in spec.channels:
        x = df[ch].to_numpy(dtype="float64", na_value=np.nan)
        present = x[~np.isnan(x)]
        row[f"{ch}__nulls"] = len(x) - len(present)
        row[f"{ch}__min"] = float(present.min()) if len(present) else np.nan
        row[f"{ch}__max"] = float(present.max()) if len(present) else np.nan
        with np.errstate(invalid="ignore"):  # inf - inf: the stdev is NaN, the range check refuses it
            row[f"{ch}__std"] = float(df[ch].std())
    labels = df[spec.label_column]
    row[f"{spec.label_column}__unknown"] = int((labels.notna() & ~labels.isin(spec.labels)).sum())
    asset = pd.factorize(df[spec.asset_column])[0]
    ts = df[spec.timestamp_column].to_numpy(dtype="datetime64[ns]")
    same_asset = asset[1:] == asset[:-1]
    row["timestamp__repeats"] = int((same_asset & (ts[1:] <= ts[:-1])).sum())
    starts = np.flatnonzero(np.r_[True, ~same_asset, True])  # asset runs are contiguous: sorted
    row[f"{spec.asset_column}__fewest_rows"] = int(np.diff(starts).min()) if len(df) else 0
    return row


def statistics_expectations(ds: DatasetConfig) -> list[Any]:
    """The suite on the statistics table (one row per file): the per-row suite's checks, restated
    on each file's statistics, so that a file passes here exactly when it passes row by row."""
    from great_expectations import expectations as E

    spec, v = ds.sensor, ds.validation
    assert spec is not None

    def none(column: str) -> Any:
        return E.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=0)

    out: list[Any] = [none(f"{c}__nulls") for c in (spec.asset_column, spec.timestamp_column, spec.label_column)]
    for ch in spec.channels:
        low, high = v.ranges.get(ch, (-FINITE, FINITE))
        out += [
            none(f"{ch}__nulls"),
            E.ExpectColumnValuesToBeBetween(column=f"{ch}__min", min_value=low),
            E.ExpectColumnValuesToBeBetween(column=f"{ch}__max", max_value=high),
        ]
        if v.constant_channel == "file":
            out.append(E.ExpectColumnValuesToBeBetween(column=f"{ch}__std", min_value=v.min_channel_std))
    out += [
        none(f"{spec.label_column}__unknown"),
        none("timestamp__repeats"),
        E.ExpectColumnValuesToBeBetween(column=f"{spec.asset_column}__fewest_rows", min_value=spec.window),
    ]
    return out


@dataclass
class Examined:
    """One file parsed and reduced to its statistics: all that judging the batch needs of it."""

    result: FileResult
    digest: str
    stats: dict[str, Any] | None = None  # None: refused before the statistics (unreadable, structure)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types (a Ray job returns examined files to the validation task this way)."""
        fr = self.result
        return {"path": fr.path, "rows": fr.rows, "reasons": fr.reasons, "notes": fr.notes, "digest": self.digest,
                "stats": self.stats}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Examined:
        result = FileResult(str(d["path"]), int(d["rows"]), list(d["reasons"]), list(d["notes"]))
        return cls(result, str(d["digest"]), d["stats"])


def examine(path: str, body: bytes, ds: DatasetConfig) -> Examined:
    """Parse one file and reduce it to its statistics (runs in a parsing thread or a Ray task)."""
    spec = ds.sensor
    assert spec is not None
    out = Examined(FileResult(path), hashlib.sha256(body).hexdigest())
    fr = out.result
    try:
        df = read_sensor_file(path, body, spec)
    except ValueError as exc:
        fr.reasons.append(str(exc))
        return out
    fr.rows, fr.notes = len(df), list(df.attrs.get("notes", []))
    fr.reasons += structural_problems(df, spec)
    if fr.reasons:
        return out
    out.stats = file_statistics(df, spec)
    if ds.validation.constant_channel == "window":
        fr.notes += flat_channel_notes(df, ds)
    return out


def examine_files(ds: DatasetConfig, files: Files) -> Iterator[tuple[bytes, Examined]]:
    """Every file examined, in the order of ``files``, by ``PARSE_THREADS`` threads."""
    examined = map_in_order(
        lambda pb: examine(pb[0], pb[1], ds),
        file_stream(files),
        PARSE_THREADS,
        PARSE_AHEAD,
        "parse",
        size=lambda pb: len(pb[1]),
        max_bytes=PARSE_AHEAD_BYTES,
    )
    for (_, body), ex in examined:
        yield body, ex


def validate_sensor_files(ds: DatasetConfig, files: Files, reread: Reread | None = None) -> ValidationReport:
    """Validate every sensor file; the report says which are bad and why.

    ``files`` is streamed: a file's bytes are dropped once its statistics are taken. A file whose
    statistics fail is read again through ``reread(path)`` to be checked row by row (a mapping of
    files is its own ``reread``); without one, every file's bytes are kept until the end.
    """
    if reread is None and isinstance(files, Mapping):
        reread = files.__getitem__
    return judge_sensor_files(ds, examine_files(ds, files), reread)


def judge_sensor_files(
    ds: DatasetConfig, examined: Iterable[tuple[bytes | None, Examined]], reread: Reread | None
) -> ValidationReport:
    """The batch's report from its examined files: duplicates, then GX on the statistics table,
    then the per-row suite on each file whose statistics fail.

    ``examined`` pairs each file with its bytes, or None where they are not at hand (examined by a
    Ray job): such a file is read again through ``reread`` if it fails. Without ``reread``, the
    bytes of every file are kept until the end.
    """
    report = ValidationReport(ds.name, [], ds.validation.max_bad_fraction)
    kept: dict[str, bytes] = {}
    table: list[dict[str, Any]] = []
    checked: list[FileResult] = []
    seen: dict[str, str] = {}  # sha256 -> first path with that content
    for body, ex in examined:
        fr = ex.result
        report.files.append(fr)
        if ex.digest in seen:  # the same export landed twice: its windows would count double
            fr.rows, fr.notes, fr.reasons = 0, [], [f"duplicate of {seen[ex.digest]} (same content)"]
            continue
        seen[ex.digest] = fr.path
        if ex.stats is not None:
            table.append({"file": fr.path, **ex.stats})
            checked.append(fr)
            if reread is None:
                assert body is not None, f"{fr.path}: no bytes and no way to read them again"
                kept[fr.path] = body
    run = GXRun(f"{ds.name}_sensor_statistics", lambda: statistics_expectations(ds))
    if table:
        failed = run.validate("statistics", pd.DataFrame(table), result_format="COMPLETE")
        for i, fr in enumerate(checked):
            mine = [r for r in failed if i in _unexpected_rows(r, len(checked))]
            if mine:
                body = kept[fr.path] if reread is None else reread(fr.path)
                fr.reasons += _row_reasons(run, ds, fr.path, body, mine)
    report.html_pages = run.html()
    log.info(
        "validated %d files (%d rows, GX on their statistics): %d bad",
        len(report.files),
        sum(f.rows for f in report.files),
        len(report.bad),
    )
    return report


def _unexpected_rows(result: Any, rows: int) -> set[int]:
    """The statistics rows (files) a failed expectation names; all of them when it could not run."""
    listed = (result.result or {}).get("unexpected_index_list")
    return {int(i) for i in listed} if listed else set(range(rows))


def _row_reasons(run: GXRun, ds: DatasetConfig, path: str, body: bytes, stat_failures: list[Any]) -> list[str]:
    """A file whose statistics failed: the per-row suite says why (and renders its own page)."""
    spec = ds.sensor
    assert spec is not None
    run.add_suite(f"{ds.name}_sensor", lambda: expectations(ds))
    df = read_sensor_file(path, body, spec)
    results = run.validate(path, _with_derived_columns(df, spec), suite=f"{ds.name}_sensor")
    reasons = [r for r in (_reason(x, spec, ds) for x in results) if r]
    if reasons:
        return reasons
    # the two suites state the same checks; should they ever disagree, refuse rather than let it in
    columns = sorted({str(x.expectation_config.kwargs.get("column")) for x in stat_failures})
    return [f"statistics {columns} fail the suite although every row passes: inspect the file"]
