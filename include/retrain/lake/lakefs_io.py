"""Write-audit-publish on lakeFS with the high-level ``lakefs`` SDK.

Every helper is idempotent: rerunning it after a crash or a retry converges to
the same repository state instead of failing or duplicating work.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from ..pipelining import map_in_order

MAIN = "main"
DATA_PREFIX = "data/"  # the dataset's files: data/dt=YYYY-MM-DD/...
REPORTS_PREFIX = "_reports/"  # validation reports of the runs
SOURCE_ETAG = "source-etag"  # user metadata of an ingested object: its ETag in the landing zone


@dataclass(frozen=True)
class LakeFSEndpoint:
    """Where lakeFS is and the key to use (from an Airflow connection, or the local stack)."""

    url: str
    access_key_id: str
    secret_access_key: str = ""

    def __repr__(self) -> str:  # never print the secret
        return f"LakeFSEndpoint(url={self.url!r}, access_key_id={self.access_key_id!r})"


def client(endpoint: LakeFSEndpoint) -> Any:
    from lakefs.client import Client

    return Client(host=endpoint.url, username=endpoint.access_key_id, password=endpoint.secret_access_key)


def client_from_env() -> Any:
    """A client configured by the LAKECTL_* variables (set on the Ray cluster, never per job)."""
    from lakefs.client import Client

    return Client()


def run_branch_name(dag_id: str, run_id: str) -> str:
    """``ingest-<dag_id>-<run id, sanitised>``.

    DESIGN names ``ingest/<dag_id>/<run>``, but lakeFS branch ids only allow letters,
    digits, ``_`` and ``-`` (no ``/``), so ``-`` separates the parts (docs/design-notes.md).
    """
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", f"ingest-{dag_id}-{run_id}").strip("-")
    return safe


def report_prefix(dag_id: str, run_id: str) -> str:
    """Where a run's validation report goes: ``_reports/<dag_id>-<run id, sanitised>``."""
    return REPORTS_PREFIX + run_branch_name(dag_id, run_id).removeprefix("ingest-")


def ensure_repository(clt: Any, name: str, storage_namespace: str | None = None) -> Any:
    """Create the repository (default branch ``main``) unless it exists."""
    import lakefs

    namespace = storage_namespace or f"local://{name}"
    return lakefs.Repository(name, client=clt).create(storage_namespace=namespace, default_branch=MAIN, exist_ok=True)


def ensure_branch(repo: Any, branch: str, source: str = MAIN) -> Any:
    """The run branch, created from ``source`` unless it already exists (a retry reuses it)."""
    return repo.branch(branch).create(source_reference=source, exist_ok=True)


def upload(branch: Any, path: str, data: bytes | IO[bytes], content_type: str | None = None) -> None:
    body = data if isinstance(data, bytes) else data.read()
    branch.object(path).upload(data=body, mode="wb", content_type=content_type)


def has_uncommitted(branch: Any) -> bool:
    return any(True for _ in branch.uncommitted(max_amount=1))


def commit_if_changed(branch: Any, message: str, metadata: dict[str, str]) -> str:
    """Commit the branch's changes; with nothing to commit, return the current head."""
    if has_uncommitted(branch):
        return str(branch.commit(message=message, metadata=metadata).get_commit().id)
    return str(branch.head.get_commit().id)


def merge_into_main(repo: Any, branch: Any, message: str, metadata: dict[str, str]) -> str:
    """Merge the run branch into main; returns the merge commit (main's head if nothing to merge)."""
    return merge_branch(repo, branch, MAIN, message, metadata)


def merge_branch(
    repo: Any, branch: Any, into: str, message: str, metadata: dict[str, str], strategy: str | None = None
) -> str:
    """Merge ``branch`` into branch ``into``; returns the merge commit (``into``'s head if nothing to merge)."""
    target = repo.branch(into)
    # three-dot: what the branch changed since it left the target, whatever the target merged meanwhile
    if any(True for _ in target.diff(branch, max_amount=1, type="three_dot")):
        return str(branch.merge_into(target, message=message, metadata=metadata, strategy=strategy))
    return str(target.head.get_commit().id)


def changed_objects(repo: Any, branch: str, prefix: str, against: str = MAIN) -> dict[str, int]:
    """Objects below ``prefix`` that ``branch`` added or changed since it left ``against``, committed
    or not, with their sizes in bytes (0 where lakeFS gives none): what merging it would bring in."""
    source = repo.branch(branch)
    sizes = {
        c.path: int(c.size_bytes or 0)
        for c in repo.branch(against).diff(source, prefix=prefix, type="three_dot")
        if c.type in ("added", "changed")
    }
    for c in source.uncommitted(prefix=prefix):
        if c.type == "removed":
            sizes.pop(c.path, None)
        else:
            sizes[c.path] = int(c.size_bytes or 0)
    return dict(sorted(sizes.items()))


def changed_paths(repo: Any, branch: str, prefix: str, against: str = MAIN) -> list[str]:
    """The paths of :func:`changed_objects`, sorted."""
    return list(changed_objects(repo, branch, prefix, against))


def changed_since(
    clt: Any, repository: str, base: str, head: str, prefix: str, suffixes: tuple[str, ...], limit: int | None = None
) -> list[str]:
    """Objects below ``prefix`` ending in one of ``suffixes`` that ``head`` added or changed since
    ``base`` (two refs of one repository), at most ``limit`` of them."""
    import lakefs

    out: list[str] = []
    for c in lakefs.Repository(repository, client=clt).ref(base).diff(head, prefix=prefix, type="two_dot"):
        if c.type in ("added", "changed") and c.path.endswith(suffixes):
            out.append(c.path)
            if limit is not None and len(out) >= limit:
                break
    return out


def source_etag(metadata: dict[str, str] | None) -> str | None:
    """The landing ETag an ingested object carries as user metadata (``source-etag``)."""
    for k, v in (metadata or {}).items():
        if k.lower().endswith(SOURCE_ETAG):
            return v
    return None


def delete_branch(repo: Any, name: str) -> None:
    from lakefs.exceptions import NotFoundException

    with contextlib.suppress(NotFoundException):
        repo.branch(name).delete()


def list_paths(clt: Any, repository: str, ref: str, prefix: str) -> list[tuple[str, int, str]]:
    """(path, size, checksum) of every object below ``prefix`` at ``ref``."""
    import lakefs
    from lakefs.models import CommonPrefix

    objs = lakefs.Repository(repository, client=clt).ref(ref).objects(prefix=prefix)
    return [(o.path, int(o.size_bytes or 0), str(o.checksum)) for o in objs if not isinstance(o, CommonPrefix)]


def read_bytes(clt: Any, repository: str, ref: str, path: str) -> bytes:
    import lakefs

    with lakefs.Repository(repository, client=clt).ref(ref).object(path).reader(mode="rb") as fh:
        data = fh.read()
    return data if isinstance(data, bytes) else data.encode()


# Bytes that reading ahead may hold: the objects being read or waiting to be taken
READ_AHEAD_BYTES = 256 * 2**20


def stream_objects(
    clt: Any,
    repository: str,
    ref: str,
    paths: Iterable[str],
    workers: int = 8,
    prefetch: int = 32,
    sizes: Mapping[str, int] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each object, in the order of ``paths``, read by ``workers`` threads.

    At most ``prefetch`` objects are in flight or waiting, so memory stays bounded by the largest
    objects, not by the number of objects (validation streams a run's files through this). With
    ``sizes`` (path -> bytes, e.g. from :func:`changed_objects`), they also weigh at most
    ``READ_AHEAD_BYTES`` together: a batch of large files is read a few at a time.
    """
    yield from map_in_order(
        lambda path: read_bytes(clt, repository, ref, path),
        paths,
        workers,
        prefetch,
        "lakefs-read",
        size=(lambda path: sizes.get(path, 0)) if sizes is not None else None,
        max_bytes=READ_AHEAD_BYTES if sizes is not None else None,
    )


def ensure_tag(repo: Any, tag: str, commit: str) -> None:
    """Tag ``commit`` (e.g. ``model-pump_fleet-v3``); an existing tag is left as it is."""
    repo.tag(tag).create(source_ref=commit, exist_ok=True)


def find_run_commit(repo: Any, run_id: str, depth: int = 200) -> str | None:
    """The newest commit on main whose metadata names Airflow run ``run_id`` (a retry's earlier merge)."""
    for commit in repo.branch(MAIN).log(max_amount=depth):
        if (commit.metadata or {}).get("airflow.run_id") == run_id:
            return str(commit.id)
    return None


def branch_exists(repo: Any, name: str) -> bool:
    return any(b.id == name for b in repo.branches(prefix=name))


def revert_on_main(clt: Any, repository: str, commit: str, metadata: dict[str, str]) -> str:
    """Create a revert commit of ``commit`` on main (relative to its first parent if it is a merge)."""
    import lakefs
    import lakefs_sdk

    repo = lakefs.Repository(repository, client=clt)
    for earlier in repo.branch(MAIN).log(max_amount=200):
        if (earlier.metadata or {}).get("revert.commit") == commit:
            return str(earlier.id)  # already reverted (a retry)
    parents = repo.commit(commit).get_commit().parents
    creation = lakefs_sdk.RevertCreation(
        ref=commit,
        parent_number=1 if len(parents) > 1 else 0,
        force=False,
        allow_empty=False,
        commit_overrides=lakefs_sdk.CommitOverrides(
            message=f"revert {commit[:12]}: {metadata.get('revert.reason')}", metadata=metadata
        ),
    )
    clt.sdk_client.branches_api.revert_branch(repository, MAIN, creation)
    return str(repo.branch(MAIN).head.get_commit().id)
