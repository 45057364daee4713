"""The steps of one nightly retraining run, as plain functions the DAG tasks call.

Each is idempotent: rerunning a step after a crash, a retry or a clear converges
to the same lakeFS and MLflow state.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from . import lakefs_io
from .config import DatasetConfig
from .endpoints import LakeFSEndpoint
from .ingest import IngestResult, ingest_partition

log = logging.getLogger(__name__)


class ValidationFailed(RuntimeError):
    """The batch failed validation beyond tolerance; main is untouched, the branch kept."""


class EmptyPartition(RuntimeError):
    """The landing partition of the run's date has no objects."""


def report_prefix(dag_id: str, run_id: str) -> str:
    return f"_reports/{lakefs_io.run_branch_name(dag_id, run_id).removeprefix('ingest-')}"


def ingest(
    ds: DatasetConfig, landing: Any, date: str, endpoint: LakeFSEndpoint, dag_id: str, run_id: str
) -> dict[str, Any]:
    branch = lakefs_io.run_branch_name(dag_id, run_id)
    result: IngestResult = ingest_partition(
        landing,
        ds.landing.bucket,
        ds.landing.prefix,
        date,
        endpoint,
        ds.repository,
        branch,
        max_bytes=int(ds.validation.max_file_mb * 2**20),
    )
    if result.listed == 0:
        raise EmptyPartition(
            f"dataset '{ds.name}': no objects under {result.source_uri} -- nothing landed for "
            f"{date}. Check the landing prefix in include/datasets.yaml or the upstream export."
        )
    if result.rejected:
        log.warning("rejected objects: %s", json.dumps(result.rejected))
    log.info(
        "ingest: %d copied (%.1f MB), %d unchanged on main, %d rejected in %.1fs",
        result.copied,
        result.bytes_copied / 1e6,
        result.skipped,
        len(result.rejected),
        result.seconds,
    )
    return result.as_dict()


def validate(
    ds: DatasetConfig, endpoint: LakeFSEndpoint, ingested: dict[str, Any], dag_id: str, run_id: str
) -> dict[str, Any]:
    """Validate what this run copied; quarantine bad files; write the reports to the branch."""
    from .validation import FileResult, ValidationReport, validate_files

    clt = lakefs_io.client(endpoint)
    repo = lakefs_io.ensure_repository(clt, ds.repository)
    if ingested["listed"] and not lakefs_io.branch_exists(repo, ingested["branch"]):
        return _published_report(clt, repo, ds, ingested, run_id)
    branch = repo.branch(ingested["branch"])
    paths = sorted(ingested["copied_paths"])
    # streamed: each file is read, checked and dropped (bounded memory however large the batch)
    stream = lakefs_io.stream_objects(clt, ds.repository, branch.id, paths)
    files = ((p.removeprefix("data/"), body) for p, body in stream)
    report = validate_files(ds, files) if paths else ValidationReport(ds.name, [], 1.0)
    for key, reason in ingested["rejected"].items():  # unsafe landing keys count as bad files
        report.files.append(FileResult(key, 0, [reason]))
    prefix = report_prefix(dag_id, run_id)
    summary = {**report.as_dict(), "report": f"{prefix}/validation.json", "source_uri": ingested["source_uri"]}
    if report.files:
        lakefs_io.upload(
            branch, f"{prefix}/validation.json", json.dumps(summary, indent=2).encode(), content_type="application/json"
        )
        for rel, html in report.html_pages.items():
            lakefs_io.upload(branch, f"{prefix}/gx/{rel}", html.encode(), content_type="text/html")
    if not report.passed:
        lakefs_io.commit_if_changed(
            branch,
            f"validation FAILED for {ingested['source_uri']} (kept for inspection)",
            {"validation.passed": "false", "validation.report": summary["report"], "airflow.run_id": run_id},
        )
        raise ValidationFailed(
            report.failure_message() + f"\nReport: lakefs://{ds.repository}/{branch.id}/"
            f"{summary['report']}; main is untouched and branch '{branch.id}' is kept."
        )
    copied = set(paths)
    bad = [f"data/{f.path}" for f in report.bad if f"data/{f.path}" in copied]
    if bad:
        branch.delete_objects(bad)
        log.warning("quarantined %d files: %s", len(bad), ", ".join(bad))
    summary["quarantined"] = bad
    return summary


def _published_report(clt: Any, repo: Any, ds: DatasetConfig, ingested: dict[str, Any], run_id: str) -> dict:
    """A cleared ``validate`` after the merge: the report this run already published."""
    commit = lakefs_io.find_run_commit(repo, run_id)
    if commit is None:
        raise RuntimeError(
            f"run branch '{ingested['branch']}' is gone and main has no merge of run {run_id}: "
            "clear the ingest task to copy the data again"
        )
    path = (repo.commit(commit).get_commit().metadata or {}).get("validation.report", "none")
    if path == "none":
        return {"passed": True, "files_total": 0, "files_bad": 0, "report": "none", "quarantined": []}
    return dict(json.loads(lakefs_io.read_bytes(clt, ds.repository, commit, path)))


def publish_data(
    ds: DatasetConfig,
    endpoint: LakeFSEndpoint,
    ingested: dict[str, Any],
    validation: dict[str, Any],
    lineage: dict[str, str],
) -> dict[str, Any]:
    """Commit the branch, merge it into main, delete it; returns the immutable commit to train on.

    ``new_data`` is False when the run brought nothing new (a rerun): then nothing is committed
    and main's head is returned. A retry after a successful merge finds that merge again.
    """
    clt = lakefs_io.client(endpoint)
    repo = lakefs_io.ensure_repository(clt, ds.repository)
    name = ingested["branch"]
    kept = ingested["copied"] - len(validation.get("quarantined", []))
    if not lakefs_io.branch_exists(repo, name):
        earlier = lakefs_io.find_run_commit(repo, lineage["airflow.run_id"])
        if earlier is None and kept > 0:
            raise RuntimeError(
                f"run branch '{name}' is gone and main has no merge of run "
                f"{lineage['airflow.run_id']}: clear the ingest task to copy the data again"
            )
        head = earlier or str(repo.branch(lakefs_io.MAIN).head.get_commit().id)
        return {"commit": head, "new_data": earlier is not None, "repository": ds.repository}
    branch = repo.branch(name)
    if kept <= 0:
        lakefs_io.delete_branch(repo, name)
        head = str(repo.branch(lakefs_io.MAIN).head.get_commit().id)
        log.info("nothing new for %s: main stays at %s", ingested["source_uri"], head[:12])
        return {"commit": head, "new_data": False, "repository": ds.repository}
    metadata = {
        **lineage,
        "source.uri": ingested["source_uri"],
        "source.objects": str(kept),
        "validation.passed": str(validation["passed"]).lower(),
        "validation.report": validation["report"],
    }
    lakefs_io.commit_if_changed(branch, f"ingest {ingested['source_uri']}", metadata)
    head = lakefs_io.merge_into_main(repo, branch, f"merge {name} (validated)", metadata)
    lakefs_io.delete_branch(repo, name)
    log.info("merged %s into main at %s", name, head[:12])
    return {"commit": head, "new_data": True, "repository": ds.repository}


def training_decision(
    new_data: bool,
    drift: dict[str, Any],
    champion: str | None,
    force_retrain: bool,
    ingest_only: bool,
    backfill: bool = False,
) -> str | None:
    """Why training is skipped, or None to train.

    Train when new data was merged, drift was detected in data the champion has not seen,
    no champion exists yet, or ``force_retrain``. ``ingest_only`` defers training, and so does
    every run of a backfill: its runs finish in any order, so training in each would make the
    champion depend on which gate ran last. The next scheduled run trains once on main.
    """
    if force_retrain:
        return None
    if ingest_only:
        return "ingest_only: data published, training deferred to a later run"
    if backfill:
        return (
            "backfill run: data published, training deferred to the next scheduled run "
            "(set force_retrain to train in a backfill)"
        )
    if new_data or drift.get("drift_detected") or champion is None:
        return None
    worst = max((f["psi"] for f in drift.get("features", {}).values()), default=0.0)
    return (
        f"nothing new merged, no drift (max PSI {worst:.3f} <= {drift.get('threshold')}) "
        f"and champion v{champion} exists"
    )
