"""The local Ray cluster: a head and two worker nodes, each a ``ray start --block`` of its own.

Production's shape on one machine: the head runs the dashboard, the Jobs API and each job's
driver, and no trial; the worker nodes declare logical GPUs and the ``retrain-worker`` resource
that every trial requests, so trials land on workers only (``include/retrain/config.py``:
``WORKER_RESOURCE``). Every port is on 127.0.0.1 and comes from the stack's port table; token auth
is on for every node.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests

from include.retrain.config import WORKER_RESOURCE

if TYPE_CHECKING:
    from .services import Service, Stack

WORKERS = 2
HEAD_CPUS = 1  # the job drivers and small tasks; trials never run here
WORKER_CPUS = 1  # two workers: two trials at a time, as many as this 2-core machine has cores
WORKER_GPUS = 1  # logical: a trial asks for gpus_per_trial (0.5 packs two trials onto one)
WORKER_SLOTS = 1000  # units of WORKER_RESOURCE a worker offers; each trial takes one

_NODE_PORTS = {  # ray start flag -> port table entry (suffix)
    "--node-manager-port": "node_manager",
    "--object-manager-port": "object_manager",
    "--dashboard-agent-listen-port": "dashboard_agent",
    "--dashboard-agent-grpc-port": "dashboard_agent_grpc",
    "--runtime-env-agent-port": "runtime_env_agent",
    "--metrics-export-port": "metrics",
}


def worker_name(index: int) -> str:
    return f"ray-worker-{index}"


NODE_IP = "127.0.0.1"  # every node: Ray listens on loopback only for exactly this node IP


def _common(stack: Stack, worker: bool) -> list[str]:
    # A worker joins through devstack.ray_worker_node: plain `ray start` joins a cluster only in
    # Ray's multi-node mode, which on Linux moves every node off loopback.
    launcher = (
        [str(stack.bin / "python"), "-m", "devstack.ray_worker_node"] if worker else [str(stack.bin / "ray"), "start"]
    )
    return [
        *launcher,
        "--block",
        f"--node-ip-address={NODE_IP}",
        "--disable-usage-stats",
        f"--temp-dir={stack.config.ray_temp_dir}",
    ]


def _node_alive(stack: Stack, node_manager_port: int) -> Callable[[], bool]:
    """Whether the dashboard lists the node of ``node_manager_port`` as alive (the head's view)."""
    url = stack.config.url("ray_dashboard") + "/nodes?view=summary"

    def check() -> bool:
        try:
            nodes = requests.get(url, timeout=3, headers=stack.ray_auth_header()).json()["data"]["summary"]
        except (requests.RequestException, ValueError, KeyError):
            return False
        return any(
            n.get("raylet", {}).get("nodeManagerPort") == node_manager_port
            and n.get("raylet", {}).get("state") == "ALIVE"
            for n in nodes
        )

    return check


def services(stack: Stack) -> list[Service]:
    from .services import Service, _http_ok

    c = stack.config
    head_ports = {
        "--port": "ray_gcs",
        "--dashboard-port": "ray_dashboard",
        "--ray-client-server-port": "ray_client",
        **{flag: f"ray_{name}" for flag, name in _NODE_PORTS.items()},
    }
    head = [
        *_common(stack, worker=False),
        "--head",
        "--node-name=ray-head",
        "--dashboard-host=127.0.0.1",
        "--include-dashboard=true",
        f"--num-cpus={HEAD_CPUS}",
        "--num-gpus=0",
    ]
    head += [f"{flag}={c.ports[name]}" for flag, name in head_ports.items()]
    out = [
        Service(
            "ray",
            "Ray head",
            head,
            list(head_ports.values()),
            _http_ok(c.url("ray_dashboard") + "/api/version", headers=stack.ray_auth_header()),
            env=stack.ray_cluster_env(),
            url=c.url("ray_dashboard"),
            stop_grace=5.0,  # some Ray daemons ignore SIGTERM under `ray start --block`
        )
    ]
    for i in range(1, WORKERS + 1):
        ports = {flag: f"ray_worker{i}_{name}" for flag, name in _NODE_PORTS.items()}
        argv = [
            *_common(stack, worker=True),
            f"--address={NODE_IP}:{c.ports['ray_gcs']}",
            f"--node-name={worker_name(i)}",  # every node shares the IP: the dashboard tells them apart by name
            f"--num-cpus={WORKER_CPUS}",
            f"--num-gpus={WORKER_GPUS}",
            f"--resources={json.dumps({WORKER_RESOURCE: WORKER_SLOTS})}",
        ]
        argv += [f"{flag}={c.ports[name]}" for flag, name in ports.items()]
        out.append(
            Service(
                worker_name(i),
                f"Ray worker node {i}",
                argv,
                list(ports.values()),
                _node_alive(stack, c.ports[f"ray_worker{i}_node_manager"]),
                env=stack.ray_cluster_env(),
                stop_grace=5.0,
            )
        )
    return out
