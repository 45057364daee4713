"""Refused files are kept, readable, with their reasons, on a branch that never reaches main.

Each dataset repository has a branch ``quarantine``, started from the repository's first commit
(so it holds nothing of main). A run that refuses files copies them there under the path they
had (``data/dt=D/...``, with their landing ETag as user metadata) together with its validation
report, in one commit whose metadata names the run: ``validation.passed=false``, so the
pre-merge hook (``guard.py``) would refuse it on main anyway. The copies are lakeFS metadata
operations; no byte moves.

A later run of the same date skips a landing object whose path, size and ETag match a
quarantined one: it was refused already, and the rerun of a night that quarantined a file then
merges nothing new instead of failing on that file alone.
"""

from __future__ import annotations

import logging
from typing import Any

from ..handoffs import Quarantine, RunLineage
from . import lakefs_io

log = logging.getLogger(__name__)
BRANCH = "quarantine"


def _root_commit(repo: Any) -> str:
    """The repository's first commit ("Repository created"), before any data."""
    commits = list(repo.branch(lakefs_io.MAIN).log(first_parent=True))
    return str(commits[-1].id)


def ensure_branch(repo: Any) -> Any:
    """The quarantine branch, created from the first commit unless it exists."""
    if lakefs_io.branch_exists(repo, BRANCH):
        return repo.branch(BRANCH)
    return repo.branch(BRANCH).create(source_reference=_root_commit(repo), exist_ok=True)


def keep(
    repo: Any, run_branch: str, paths: list[str], report_path: str, report: bytes, lineage: RunLineage
) -> Quarantine:
    """Copy ``paths`` of ``run_branch`` and the run's report to the quarantine branch, in one commit.

    Idempotent: a retry copies the same objects to the same paths again (no change, no new
    commit) and returns the same record.
    """
    ensure_branch(repo)
    work_name = lakefs_io.run_branch_name("quarantine", lineage.run_id)
    work = lakefs_io.ensure_branch(repo, work_name, source=BRANCH)
    for path in paths:
        repo.branch(run_branch).object(path).copy(work_name, path)
    lakefs_io.upload(work, report_path, report, content_type="application/json")
    metadata = {
        **lineage.commit_metadata(),
        "validation.passed": "false",
        "validation.report": report_path,
        "quarantine.files": str(len(paths)),
    }
    lakefs_io.commit_if_changed(work, f"quarantine {len(paths)} files refused by {lineage.run_id}", metadata)
    head = lakefs_io.merge_branch(repo, work, BRANCH, f"quarantine of {lineage.run_id}", metadata, "source-wins")
    lakefs_io.delete_branch(repo, work_name)
    log.warning("kept %d refused files on lakefs://%s/%s@%s", len(paths), repo.id, BRANCH, head[:12])
    return {"branch": BRANCH, "ref": head, "report": report_path, "paths": {p: p for p in paths}}


def refused_before(repo: Any, prefix: str) -> dict[str, tuple[int, str | None]]:
    """path -> (size, landing ETag) of every object kept in quarantine below ``prefix``."""
    if not lakefs_io.branch_exists(repo, BRANCH):
        return {}
    return {
        o.path: (o.size_bytes, lakefs_io.source_etag(o.metadata))
        for o in repo.ref(BRANCH).objects(prefix=prefix, user_metadata=True)
    }
