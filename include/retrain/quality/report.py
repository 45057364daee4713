"""What every check of a batch produces: a verdict per file, the batch's report, and the GX runner.

Shared by the sensor and the image checks (``sensor.py``, ``image.py``). A file is bad when any
check fails; the run fails when the bad fraction exceeds ``validation.max_bad_fraction``, when
nothing valid remains, or when a batch-level expectation fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..handoffs import FileVerdict


@dataclass
class FileResult:
    path: str
    rows: int = 0
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what reading did to the file (sorted, duplicates dropped)

    @property
    def ok(self) -> bool:
        return not self.reasons


@dataclass
class ValidationReport:
    """The verdicts of a batch. ``already_valid`` counts the partition's files that are on main
    already (a rerun): they take part in the bad fraction as good files, so a rerun decides like
    the first run did."""

    dataset: str
    files: list[FileResult]
    max_bad_fraction: float
    html_pages: dict[str, str] = field(default_factory=dict)  # relative path -> html
    batch_reasons: list[str] = field(default_factory=list)  # distribution-level failures of the batch
    batch_warnings: list[str] = field(default_factory=list)  # recorded, not failing (validation.class_share: warn)
    already_valid: int = 0

    @property
    def bad(self) -> list[FileResult]:
        return [f for f in self.files if not f.ok]

    @property
    def total(self) -> int:
        return len(self.files) + self.already_valid

    @property
    def valid(self) -> int:
        return self.total - len(self.bad)

    @property
    def bad_fraction(self) -> float:
        return len(self.bad) / self.total if self.total else 0.0

    @property
    def passed(self) -> bool:
        files_ok = not self.total or (self.valid > 0 and self.bad_fraction <= self.max_bad_fraction)
        return files_ok and not self.batch_reasons

    def failure_message(self) -> str:
        valid = self.valid
        if self.batch_reasons and valid > 0 and self.bad_fraction <= self.max_bad_fraction:
            return f"dataset '{self.dataset}': validation failed for the batch: " + "; ".join(self.batch_reasons)
        why = (
            "no valid file remains"
            if valid == 0
            else f"bad fraction {self.bad_fraction:.0%} exceeds max_bad_fraction {self.max_bad_fraction:.0%}"
        )
        lines = [f"dataset '{self.dataset}': validation failed: {len(self.bad)}/{self.total} files bad; {why}."]
        lines += [f"  {f.path}: {'; '.join(f.reasons)}" for f in self.bad]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        files: list[FileVerdict] = [
            {"path": f.path, "rows": f.rows, "reasons": f.reasons, "ok": f.ok, "notes": f.notes} for f in self.files
        ]
        return {
            "dataset": self.dataset,
            "passed": self.passed,
            "files_total": len(self.files),
            "files_bad": len(self.bad),
            "already_on_main": self.already_valid,
            "bad_fraction": round(self.bad_fraction, 4),
            "max_bad_fraction": self.max_bad_fraction,
            "batch_reasons": self.batch_reasons,
            "batch_warnings": self.batch_warnings,
            "files": files,
            "gx_html": sorted(self.html_pages),
        }


class GXRun:
    """One ephemeral GX context whose checkpoints render Data Docs HTML into a temp folder.

    Args:
        suite_name: the suite's name in the Data Docs.
        expectations: builds the suite's expectations (called once GX is imported and the context
            is active, which GX 1.x needs).
    """

    def __init__(self, suite_name: str, expectations: Callable[[], list[Any]]) -> None:
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
        self.suite = self.ctx.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations()))
        self.suites = {suite_name: self.suite}
        self.source = self.ctx.data_sources.add_pandas("landing")

    def add_suite(self, suite_name: str, expectations: Callable[[], list[Any]]) -> None:
        """A second suite in the same context (its results land in the same Data Docs)."""
        if suite_name not in self.suites:
            self.suites[suite_name] = self.ctx.suites.add(
                self.gx.ExpectationSuite(name=suite_name, expectations=expectations())
            )

    def validate(
        self, name: str, df: pd.DataFrame, suite: str | None = None, result_format: str = "SUMMARY"
    ) -> list[Any]:
        """Failed expectation results of ``df`` against ``suite`` (the first one by default),
        rendered into the HTML report too. ``result_format="COMPLETE"`` lists every unexpected
        row's index (``result["unexpected_index_list"]``)."""
        gx = self.gx
        asset = name.replace("/", "__")
        batch_def = self.source.add_dataframe_asset(asset).add_batch_definition_whole_dataframe("whole")
        chosen = self.suites[suite] if suite else self.suite
        vd = self.ctx.validation_definitions.add(gx.ValidationDefinition(name=asset, data=batch_def, suite=chosen))
        cp = self.ctx.checkpoints.add(
            gx.Checkpoint(
                name=f"cp_{asset}",
                validation_definitions=[vd],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")],
                result_format=result_format,
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
Reread = Callable[[str], bytes]  # a file's bytes again, by its path below data/


def file_stream(files: Files) -> Iterable[tuple[str, bytes]]:
    """(path, bytes) pairs: a mapping in path order, or a stream (lakefs_io.stream_objects) as it is."""
    return sorted(files.items()) if isinstance(files, Mapping) else files
