"""Ingest throughput: our ingest vs a raw boto3 thread pool, against the same lakeFS.

Both copy the same N landing objects into a fresh lakeFS branch through the S3 gateway
(streaming, 8 threads). Needs the local stack: ``make up``.

    .venv/bin/python bench/ingest_throughput.py [--files 300] [--kib 64]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from devstack.services import stack_from_env
from include.retrain.lake import lakefs_io
from include.retrain.lake.ingest import ingest_partition, lakefs_gateway, list_partition
from include.retrain.lake.lakefs_io import LakeFSEndpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--kib", type=int, default=64)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    stack = stack_from_env()
    if not stack.is_up():
        raise SystemExit("the local stack is not up: run `make up` first")
    s3, bucket = stack.s3_client(), stack.config.landing_bucket
    prefix, date = f"bench-{uuid.uuid4().hex[:6]}", "2026-01-01"
    body = os.urandom(args.kib * 1024)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(Bucket=bucket, Key=f"{prefix}/dt={date}/f{i:05d}.bin", Body=body),
                range(args.files),
            )
        )
    ep = LakeFSEndpoint(
        stack.config.url("lakefs"), stack.creds.lakefs_access_key_id, stack.creds.lakefs_secret_access_key
    )
    repo = lakefs_io.ensure_repository(lakefs_io.client(ep), "bench")
    gateway = lakefs_gateway(ep)

    def raw_pool() -> float:
        branch = f"raw-{uuid.uuid4().hex[:6]}"
        lakefs_io.ensure_branch(repo, branch)
        t0 = time.perf_counter()
        objs = list_partition(s3, bucket, f"{prefix}/dt={date}/")

        def copy(key: str) -> None:
            data = s3.get_object(Bucket=bucket, Key=key)["Body"]
            gateway.upload_fileobj(data, "bench", f"{branch}/data/{key}")

        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(copy, [o.key for o in objs]))
        return time.perf_counter() - t0

    def ours() -> float:
        branch = f"ours-{uuid.uuid4().hex[:6]}"
        t0 = time.perf_counter()
        result = ingest_partition(s3, bucket, prefix, date, ep, "bench", branch, workers=args.workers)
        assert result.copied == args.files, result
        return time.perf_counter() - t0

    raw_pool()  # warm-up: connections, lakeFS caches
    raw = min(raw_pool() for _ in range(3))
    mine = min(ours() for _ in range(3))
    print(f"{args.files} files x {args.kib} KiB, {args.workers} threads, best of 3")
    print(f"raw boto3 pool: {args.files / raw:7.1f} files/s")
    print(f"our ingest:     {args.files / mine:7.1f} files/s  -> {raw / mine:.2f}x the pool [goal >= 0.9x]")


if __name__ == "__main__":
    main()
