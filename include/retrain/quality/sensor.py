"""Sensor files: structural checks, then a Great Expectations 1.x suite per file.

A file that cannot be parsed or lacks required columns fails the structural
checks; every other file runs the GX suite built from the dataset config. Any
failure makes the file bad: it is quarantined (removed from the run branch) and
listed with its reasons. The run fails when the bad fraction exceeds
``validation.max_bad_fraction`` or nothing valid remains.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
import pandas as pd

from ..config import DatasetConfig, SensorSpec
from ..lake.formats import read_sensor_file
from .report import FileResult, Files, GXRun, ValidationReport, file_stream

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


def validate_sensor_files(ds: DatasetConfig, files: Files) -> ValidationReport:
    """Validate every sensor file; the report says which are bad and why."""
    spec = ds.sensor
    assert spec is not None
    report = ValidationReport(ds.name, [], ds.validation.max_bad_fraction)
    run = GXRun(f"{ds.name}_sensor", lambda: expectations(ds))
    seen: dict[str, str] = {}  # sha256 -> first path with that content
    for path, body in file_stream(files):
        fr = FileResult(path)
        report.files.append(fr)
        digest = hashlib.sha256(body).hexdigest()
        if digest in seen:  # the same export landed twice: its windows would count double
            fr.reasons.append(f"duplicate of {seen[digest]} (same content)")
            continue
        seen[digest] = path
        try:
            df = read_sensor_file(path, body, spec)
        except ValueError as exc:
            fr.reasons.append(str(exc))
            continue
        fr.rows, fr.notes = len(df), list(df.attrs.get("notes", []))
        fr.reasons += structural_problems(df, spec)
        if fr.reasons:
            continue
        reasons = (_reason(r, spec, ds) for r in run.validate(path, _with_derived_columns(df, spec)))
        fr.reasons += [r for r in reasons if r]
        if ds.validation.constant_channel == "window":
            fr.notes += flat_channel_notes(df, ds)
    report.html_pages = run.html()
    log.info("validated %d files: %d bad", len(report.files), len(report.bad))
    return report
