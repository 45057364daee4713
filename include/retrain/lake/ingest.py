"""Copy one landing partition into a lakeFS run branch: streamed, parallel, incremental.

Objects go through lakeFS's S3 gateway with boto3's managed transfer, so a large
file is streamed in 8 MiB parts and never held whole in memory. Each copy keeps
the landing ETag as user metadata; an object already on main with the same
ETag and size is not copied again.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

from ..handoffs import Ingested
from . import guard, lakefs_io, quarantine
from .lakefs_io import LakeFSEndpoint

log = logging.getLogger(__name__)
PART_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True)
class LandingObject:
    key: str
    size: int
    etag: str


@dataclass
class IngestResult:
    repository: str
    branch: str
    source_uri: str
    listed: int = 0
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # landing key -> reason
    ignored: list[str] = field(default_factory=list)  # export markers and sidecars (landing.ignore)
    refused_before: list[str] = field(default_factory=list)  # landing keys kept in quarantine already
    copied_paths: list[str] = field(default_factory=list)
    restarted: bool = False  # the run branch of a refused try was dropped and made again from main
    seconds: float = 0.0

    def as_dict(self) -> Ingested:
        return Ingested(**asdict(self))  # type: ignore[typeddict-item]


def list_partition(s3: Any, bucket: str, prefix: str) -> list[LandingObject]:
    """Every object below ``prefix`` (paginated), with size and ETag."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                out.append(LandingObject(obj["Key"], int(obj["Size"]), obj["ETag"].strip('"')))
    return out


def target_path(landing_prefix: str, key: str) -> str:
    """``<prefix>/dt=D/a.parquet`` -> ``data/dt=D/a.parquet``."""
    return "data/" + key[len(landing_prefix) :].lstrip("/")


def ignored_by(key: str, partition: str, patterns: Sequence[str]) -> bool:
    """Whether a landing object is an export's marker or sidecar: a path segment below the
    partition matches one of ``patterns``."""
    return any(fnmatch.fnmatchcase(seg, p) for seg in key.removeprefix(partition).split("/") for p in patterns)


def unsafe_key_reason(key: str) -> str | None:
    parts = key.split("/")
    if any(p in ("..", ".") for p in parts):
        return "object key has a '.' or '..' path segment"
    if any(p == "" for p in parts):
        return "object key has an empty path segment ('//')"
    if len(key.encode()) > 900:
        return "object key is longer than 900 bytes"
    if any(ord(ch) < 32 for ch in key):
        return "object key has control characters"
    return None


def oversize_reason(size: int, max_bytes: int | None) -> str | None:
    if max_bytes is not None and size > max_bytes:
        return f"object is {size / 2**20:.1f} MiB, above validation.max_file_mb ({max_bytes / 2**20:g} MiB)"
    return None


def lakefs_gateway(endpoint: LakeFSEndpoint) -> Any:
    """A boto3 client of lakeFS's S3 gateway (bucket = repository, key = <ref>/<path>)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=32,
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def _drop_refused_branch(repo: Any, name: str) -> bool:
    """Delete the run branch if an earlier try's validation refused its batch (the branch head says
    ``validation.passed=false``); the refused files are kept in quarantine. Returns whether it did."""
    if not lakefs_io.branch_exists(repo, name):
        return False
    head = repo.branch(name).head.get_commit()
    if (head.metadata or {}).get("validation.passed") != "false":
        return False  # a retry of an unfinished try: keep what it copied
    lakefs_io.delete_branch(repo, name)
    log.warning("run branch %s held a batch an earlier try refused: starting it again from main", name)
    return True


def ingest_partition(
    landing: Any,
    bucket: str,
    landing_prefix: str,
    date: str,
    endpoint: LakeFSEndpoint,
    repository: str,
    branch_name: str,
    workers: int = 8,
    max_bytes: int | None = None,
    ignore: Sequence[str] = (),
) -> IngestResult:
    """Copy partition ``dt=<date>`` of the landing prefix into ``branch_name`` (created from main).

    Objects that match ``ignore`` (export markers and sidecars) are listed as ignored and left
    alone. Objects with an unsafe key or larger than ``max_bytes`` are rejected (listed with the reason,
    left in the landing zone, never copied). Objects already on main, or already refused and kept
    in quarantine, with the same size and ETag are skipped. A run branch left by an earlier try
    whose validation failed is dropped and made again from main: a rerun starts from what landing
    holds now (its refused files are kept in quarantine)."""
    from boto3.s3.transfer import TransferConfig

    t0 = time.monotonic()
    partition = f"{landing_prefix}/dt={date}/"
    result = IngestResult(repository, branch_name, f"s3://{bucket}/{partition}")
    objects = list_partition(landing, bucket, partition)
    result.listed = len(objects)
    skip = {o.key for o in objects if not unsafe_key_reason(o.key) and ignored_by(o.key, partition, ignore)}
    result.ignored = sorted(skip)
    objects = [o for o in objects if o.key not in skip]
    if result.ignored:
        log.info(
            "ignored %d export markers and sidecars (landing.ignore): %s", len(result.ignored), result.ignored[:10]
        )
    if not objects:  # nothing landed (or only markers): no branch, the caller reports it
        return result
    clt = lakefs_io.client(endpoint)
    repo = guard.ensure_dataset_repository(clt, repository)
    result.restarted = _drop_refused_branch(repo, branch_name)
    lakefs_io.ensure_branch(repo, branch_name)
    prefix = f"{lakefs_io.DATA_PREFIX}dt={date}/"
    on_main = {
        o.path: (o.size_bytes, lakefs_io.source_etag(o.metadata))
        for o in repo.ref(lakefs_io.MAIN).objects(prefix=prefix, user_metadata=True)
    }
    refused = quarantine.refused_before(repo, prefix)
    todo = []
    for obj in objects:
        reason = unsafe_key_reason(obj.key) or oversize_reason(obj.size, max_bytes)
        path = target_path(landing_prefix, obj.key)
        if reason:
            result.rejected[obj.key] = reason
        elif on_main.get(path) == (obj.size, obj.etag):
            result.skipped += 1
        elif refused.get(path) == (obj.size, obj.etag):
            result.refused_before.append(obj.key)
        else:
            todo.append(obj)
    log.info(
        "%s: %d objects, %d already on main, %d refused before (kept in quarantine), %d to copy, %d rejected",
        result.source_uri,
        len(objects),
        result.skipped,
        len(result.refused_before),
        len(todo),
        len(result.rejected),
    )
    gateway = lakefs_gateway(endpoint)
    transfer = TransferConfig(
        multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=2, use_threads=True
    )
    lock, last_log = threading.Lock(), [time.monotonic()]

    def copy(obj: LandingObject) -> str:
        path = target_path(landing_prefix, obj.key)
        body = landing.get_object(Bucket=bucket, Key=obj.key)["Body"]
        gateway.upload_fileobj(
            body,
            repository,
            f"{branch_name}/{path}",
            Config=transfer,
            ExtraArgs={"Metadata": {lakefs_io.SOURCE_ETAG: obj.etag}},
        )
        with lock:
            result.copied += 1
            result.bytes_copied += obj.size
            if time.monotonic() - last_log[0] > 5 or result.copied == len(todo):
                last_log[0] = time.monotonic()
                log.info("copied %d/%d objects (%.1f MB)", result.copied, len(todo), result.bytes_copied / 1e6)
        return path

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(copy, obj) for obj in todo]
        for fut in as_completed(futures):
            result.copied_paths.append(fut.result())
    result.copied_paths.sort()
    result.seconds = round(time.monotonic() - t0, 2)
    return result
