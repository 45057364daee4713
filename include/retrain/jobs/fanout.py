"""A tiny Ray job: fan out a few tasks on the cluster and report what ran where."""

from __future__ import annotations

import argparse
import socket

import ray

from .submission import emit_result


@ray.remote(num_cpus=0.5)
def square(x: int) -> tuple[int, str]:
    return x * x, socket.gethostname()


def main() -> None:
    parser = argparse.ArgumentParser(description="Smoke-test Ray job: sum of squares over N tasks.")
    parser.add_argument("--n", type=int, default=8, help="number of remote tasks")
    args = parser.parse_args()
    ray.init()
    results = ray.get([square.remote(i) for i in range(args.n)])
    total = sum(r[0] for r in results)
    print(f"{args.n} tasks ran on {len({r[1] for r in results})} node(s); sum of squares = {total}")
    emit_result({"tasks": args.n, "sum_of_squares": total, "ray_version": ray.__version__})


if __name__ == "__main__":
    main()
