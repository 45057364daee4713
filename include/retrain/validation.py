"""Validate sensor files with Great Expectations 1.x and decide what to quarantine.

A file that cannot be parsed or lacks required columns fails the structural
checks; every other file runs the GX suite built from the dataset config. Any
failure makes the file bad: it is quarantined (removed from the run branch) and
listed with its reasons. The run fails when the bad fraction exceeds
``validation.max_bad_fraction`` or nothing valid remains.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import DatasetConfig, SensorSpec
from .tables import read_sensor_file

log = logging.getLogger(__name__)
NUMERIC_TYPES = ["float64", "float32", "int64", "int32", "Float64", "Int64", "double", "float", "int"]
FINITE = 1e12  # bound for channels without a configured range: catches inf


@dataclass
class FileResult:
    path: str
    rows: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons


@dataclass
class ValidationReport:
    dataset: str
    files: list[FileResult]
    max_bad_fraction: float
    html_pages: dict[str, str] = field(default_factory=dict)  # relative path -> html
    batch_reasons: list[str] = field(default_factory=list)  # distribution-level failures of the batch

    @property
    def bad(self) -> list[FileResult]:
        return [f for f in self.files if not f.ok]

    @property
    def bad_fraction(self) -> float:
        return len(self.bad) / len(self.files) if self.files else 0.0

    @property
    def passed(self) -> bool:
        valid = len(self.files) - len(self.bad)
        files_ok = not self.files or (valid > 0 and self.bad_fraction <= self.max_bad_fraction)
        return files_ok and not self.batch_reasons

    def failure_message(self) -> str:
        valid = len(self.files) - len(self.bad)
        if self.batch_reasons and valid > 0 and self.bad_fraction <= self.max_bad_fraction:
            return f"dataset '{self.dataset}': validation failed for the batch: " + "; ".join(self.batch_reasons)
        why = (
            "no valid file remains"
            if valid == 0
            else f"bad fraction {self.bad_fraction:.0%} exceeds max_bad_fraction {self.max_bad_fraction:.0%}"
        )
        lines = [f"dataset '{self.dataset}': validation failed: {len(self.bad)}/{len(self.files)} files bad; {why}."]
        lines += [f"  {f.path}: {'; '.join(f.reasons)}" for f in self.bad]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "passed": self.passed,
            "files_total": len(self.files),
            "files_bad": len(self.bad),
            "bad_fraction": round(self.bad_fraction, 4),
            "max_bad_fraction": self.max_bad_fraction,
            "batch_reasons": self.batch_reasons,
            "files": [{**asdict(f), "ok": f.ok} for f in self.files],
            "gx_html": sorted(self.html_pages),
        }


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
    """Per-asset facts GX checks as plain columns: increasing timestamps, rows per asset."""
    out = df.copy()
    ts = out[spec.timestamp_column]
    grouped = ts.groupby(out[spec.asset_column], sort=False)
    previous = grouped.shift(1)
    out["_timestamp_increases"] = previous.isna() | (ts > previous)
    out["_rows_of_asset"] = grouped.transform("size").astype("int64")
    return out


def build_suite(ds: DatasetConfig) -> Any:
    import great_expectations as gx

    spec, v = ds.sensor, ds.validation
    assert spec is not None
    suite = gx.ExpectationSuite(name=f"{ds.name}_sensor")
    add = suite.add_expectation
    for col in (spec.asset_column, spec.timestamp_column, spec.label_column):
        add(gx.expectations.ExpectColumnValuesToNotBeNull(column=col))
    for ch in spec.channels:
        low, high = v.ranges.get(ch, (-FINITE, FINITE))
        add(gx.expectations.ExpectColumnValuesToBeInTypeList(column=ch, type_list=NUMERIC_TYPES))
        add(gx.expectations.ExpectColumnValuesToNotBeNull(column=ch))
        add(gx.expectations.ExpectColumnValuesToBeBetween(column=ch, min_value=low, max_value=high))
        add(gx.expectations.ExpectColumnStdevToBeBetween(column=ch, min_value=v.min_channel_std))
    add(gx.expectations.ExpectColumnValuesToBeInSet(column=spec.label_column, value_set=list(spec.labels)))
    add(gx.expectations.ExpectColumnValuesToBeInSet(column="_timestamp_increases", value_set=[True]))
    add(gx.expectations.ExpectColumnMinToBeBetween(column="_rows_of_asset", min_value=spec.window))
    return suite


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
    if col == "_timestamp_increases":
        return f"timestamps do not increase per asset ({n} rows out of order or repeated)"
    if col == "_rows_of_asset":
        return f"too few rows: an asset has {r.get('observed_value')} rows, one window needs {spec.window}"
    return f"{kind} failed on '{col}'"


class _GXRun:
    """One ephemeral GX context whose checkpoints render Data Docs HTML into a temp folder."""

    def __init__(self, make_suite: Callable[[], Any]) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs_dir = Path(tempfile.mkdtemp(prefix="gx-docs-"))
        self.ctx.add_data_docs_site(
            site_name="report",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(self.docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        self.suite = self.ctx.suites.add(make_suite())  # suites need the active context
        self.source = self.ctx.data_sources.add_pandas("landing")

    def validate(self, name: str, df: pd.DataFrame) -> list[Any]:
        """Failed expectation results of ``df`` (rendered into the HTML report too)."""
        gx = self.gx
        asset = name.replace("/", "__")
        batch_def = self.source.add_dataframe_asset(asset).add_batch_definition_whole_dataframe("whole")
        vd = self.ctx.validation_definitions.add(gx.ValidationDefinition(name=asset, data=batch_def, suite=self.suite))
        cp = self.ctx.checkpoints.add(
            gx.Checkpoint(
                name=f"cp_{asset}",
                validation_definitions=[vd],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")],
                result_format="SUMMARY",
            )
        )
        res = cp.run(batch_parameters={"dataframe": df})
        self._release()
        return [r for run in res.run_results.values() for r in run.results if not r.success]

    def _release(self) -> None:
        """Drop the batch GX just validated: its execution engine keeps every batch's dataframe
        and computed metrics for the context's lifetime, so memory grew with each file (GX 1.x)."""
        engine = self.source.get_execution_engine()
        engine.batch_manager.reset_batch_cache()
        engine.batch_manager._batch_data_cache.clear()
        engine._metric_cache.clear()

    def html(self) -> dict[str, str]:
        return {str(p.relative_to(self.docs_dir)): p.read_text() for p in self.docs_dir.rglob("*.html")}


Files = Mapping[str, bytes] | Iterable[tuple[str, bytes]]


def file_stream(files: Files) -> Iterable[tuple[str, bytes]]:
    """(path, bytes) pairs: a mapping in path order, or a stream (lakefs_io.stream_objects) as it is."""
    return sorted(files.items()) if isinstance(files, Mapping) else files


def validate_files(ds: DatasetConfig, files: Files) -> ValidationReport:
    """Validate every file (path below ``data/`` and its bytes) of the dataset's modality.

    ``files`` may be a stream: each file is checked and dropped before the next is read, so
    memory does not grow with the size of the batch.
    """
    if ds.modality == "image":
        from .image_validation import validate_image_files

        return validate_image_files(ds, files)
    return validate_sensor_files(ds, files)


def validate_sensor_files(ds: DatasetConfig, files: Files) -> ValidationReport:
    """Validate every sensor file; the report says which are bad and why."""
    spec = ds.sensor
    assert spec is not None
    report = ValidationReport(ds.name, [], ds.validation.max_bad_fraction)
    run = _GXRun(lambda: build_suite(ds))
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
        fr.rows = len(df)
        fr.reasons += structural_problems(df, spec)
        if fr.reasons:
            continue
        reasons = (_reason(r, spec, ds) for r in run.validate(path, _with_derived_columns(df, spec)))
        fr.reasons += [r for r in reasons if r]
    report.html_pages = run.html()
    log.info("validated %d files: %d bad", len(report.files), len(report.bad))
    return report
