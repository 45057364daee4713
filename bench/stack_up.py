"""``make up`` from nothing, measured: the time until every service is healthy, and the memory of
the whole stack (every process of every service) once it is up.

    PYTHONPATH=. .venv/bin/python bench/stack_up.py [--keep]

Starts a stack of its own (a temporary state folder, free ports), so it runs beside a dev stack;
stops it afterwards. Memory is each process's proportional set size (PSS: shared pages split
among the processes that share them), summed per service.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import psutil

    from devstack.services import Stack
    from devstack.stack_config import PORTS, StackConfig, free_ports

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    stack = Stack(StackConfig(state_dir=state, ports=dict(zip(PORTS, free_ports(len(PORTS)), strict=True))))
    t0 = time.perf_counter()
    stack.up()
    up = time.perf_counter() - t0
    time.sleep(20)  # let the services settle (Airflow parses the DAGs, Ray's agents start)
    per_service: collections.Counter[str] = collections.Counter()
    for svc in stack.services():
        pidfile = stack.state / "run" / f"{svc.name}.pid"
        if not pidfile.exists():
            continue
        group = int(json.loads(pidfile.read_text())["pgid"])
        for proc in psutil.process_iter():
            try:
                if proc.pid and os.getpgid(proc.pid) == group:
                    per_service[svc.name] += proc.memory_full_info().pss / 2**20
            except (psutil.Error, ProcessLookupError, OSError):
                continue
    total = sum(per_service.values())
    print(f"\nmake up, from an empty state folder: {up:.1f}s; memory of the stack: {total:,.0f} MiB (PSS)")
    for name, mib in sorted(per_service.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<24}{mib:8,.0f} MiB")
    if not args.keep:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
