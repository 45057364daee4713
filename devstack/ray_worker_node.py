"""``python -m devstack.ray_worker_node <ray start flags>``: a Ray worker node that stays on 127.0.0.1.

Ray binds a node's gRPC servers to 127.0.0.1 only when the node's IP is exactly ``127.0.0.1``, and
on Linux it keeps that IP only in its single-node mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``):
in cluster mode it swaps 127.0.0.1 for the machine's routable address and listens on every
interface. ``ray start --address`` refuses to join a cluster in single-node mode, though, which is
the one check this launcher lifts, for this process only; everything else is ``ray start`` as is,
and the node's own processes inherit single-node mode. Several nodes on one IP is how Ray's own
multi-node tests run (``ray.cluster_utils``); a driver on this host connects to the head.
"""

from __future__ import annotations

import sys
import types

import ray._private.ray_constants as ray_constants
from ray.scripts import scripts


class _JoinAllowed(types.ModuleType):
    """Ray's constants as the CLI sees them, but for the single-node guard on joining a cluster."""

    ENABLE_RAY_CLUSTER = True

    def __getattr__(self, name: str) -> object:
        return getattr(ray_constants, name)


def main() -> None:
    scripts.ray_constants = _JoinAllowed("ray_constants")
    sys.argv = ["ray", "start", *sys.argv[1:]]
    scripts.main()


if __name__ == "__main__":
    main()
