"""Where the local stack lives and which ports it uses, read from the environment."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]

# Every port of the stack: the service, its default, what uses it. Each is read from the
# environment variable <SERVICE>_PORT (e.g. LAKEFS_PORT). Ray's own defaults for its agents
# (52365...) sit in Linux's ephemeral range, where any outgoing connection may hold them; these
# stay below it.
_PORT_TABLE = """
postgres                  5432   PostgreSQL (Airflow, MLflow and lakeFS databases)
lakefs                    8000   lakeFS API, UI and S3 gateway
mlflow                    5000   MLflow tracking server
s3                        9000   S3 landing zone (moto server)
airflow                   8080   Airflow api-server and UI
ray_dashboard             8265   Ray dashboard and Jobs API
ray_gcs                   6379   Ray head (GCS)
ray_client                10001  Ray client server
ray_node_manager          6380   Ray node manager
ray_object_manager        6381   Ray object manager
ray_dashboard_agent       8266   Ray dashboard agent (HTTP)
ray_dashboard_agent_grpc  8267   Ray dashboard agent (gRPC)
ray_runtime_env_agent     8268   Ray runtime-env agent
ray_metrics               8269   Ray metrics export
ray_worker1_node_manager          6390   Ray worker node 1: node manager
ray_worker1_object_manager        6391   Ray worker node 1: object manager
ray_worker1_dashboard_agent       8270   Ray worker node 1: dashboard agent (HTTP)
ray_worker1_dashboard_agent_grpc  8271   Ray worker node 1: dashboard agent (gRPC)
ray_worker1_runtime_env_agent     8272   Ray worker node 1: runtime-env agent
ray_worker1_metrics               8273   Ray worker node 1: metrics export
ray_worker2_node_manager          6392   Ray worker node 2: node manager
ray_worker2_object_manager        6393   Ray worker node 2: object manager
ray_worker2_dashboard_agent       8274   Ray worker node 2: dashboard agent (HTTP)
ray_worker2_dashboard_agent_grpc  8275   Ray worker node 2: dashboard agent (gRPC)
ray_worker2_runtime_env_agent     8276   Ray worker node 2: runtime-env agent
ray_worker2_metrics               8277   Ray worker node 2: metrics export
"""
# name -> (environment variable, default, what uses it)
PORTS: dict[str, tuple[str, int, str]] = {
    name: (f"{name.upper()}_PORT", int(port), what)
    for name, port, what in (line.split(maxsplit=2) for line in _PORT_TABLE.strip().splitlines())
}


class StackConfigError(ValueError):
    """A setting of the local stack is wrong; the message says which variable to change."""


@dataclass(frozen=True)
class StackConfig:
    """Paths and ports of one local stack.

    Args:
        state_dir: all state, logs and generated credentials (git-ignored).
        ports: service name -> port, see ``PORTS``.
        landing_bucket: the S3 bucket of the landing zone, created at start.
        metadata_db: ``postgres`` (a local PostgreSQL server for Airflow, MLflow and lakeFS) or
            ``sqlite`` (no server: SQLite files and lakeFS's local key-value store).
        root: the project checkout (DAGs, plugins, include).
    """

    state_dir: Path
    ports: Mapping[str, int]
    landing_bucket: str = "landing"
    root: Path = ROOT
    extra_env: Mapping[str, str] = field(default_factory=dict)
    metadata_db: str = "postgres"  # or "sqlite": Airflow and MLflow on SQLite, lakeFS on its local KV

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackConfig:
        env = os.environ if environ is None else environ
        ports = {}
        for name, (var, default, _) in PORTS.items():
            raw = env.get(var, str(default))
            try:
                port = int(raw)
            except ValueError:
                raise StackConfigError(f"{var}={raw!r} is not a port number") from None
            if not 0 < port < 65536:
                raise StackConfigError(f"{var}={port} is outside 1-65535")
            ports[name] = port
        clash = _first_clash(ports)
        if clash:
            raise StackConfigError(clash)
        state = Path(env.get("RETRAIN_STATE_DIR", str(ROOT / ".local"))).resolve()
        metadata_db = env.get("RETRAIN_METADATA_DB", "postgres").lower()
        if metadata_db not in ("postgres", "sqlite"):
            raise StackConfigError(f"RETRAIN_METADATA_DB={metadata_db!r}: use postgres (the default) or sqlite")
        return cls(
            state_dir=state,
            ports=ports,
            landing_bucket=env.get("LANDING_BUCKET", "landing"),
            metadata_db=metadata_db,
        )

    def url(self, service: str) -> str:
        return f"http://{HOST}:{self.ports[service]}"

    @property
    def stack_id(self) -> str:
        """Marker put in every service's environment, to find our processes again."""
        return str(self.state_dir)

    @property
    def lakefs_bin(self) -> Path:
        return Path(os.environ.get("LAKEFS_BIN", str(self.root / ".local" / "bin" / "lakefs")))

    @property
    def ray_temp_dir(self) -> Path:
        # Ray puts unix sockets below this; their paths must stay under ~107 bytes.
        path = self.state_dir / "ray"
        if len(str(path)) > 40:
            import hashlib

            path = Path("/tmp") / f"retrain-ray-{hashlib.sha256(bytes(self.state_dir)).hexdigest()[:8]}"
        return path


def _first_clash(ports: Mapping[str, int]) -> str | None:
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            a, b = PORTS[seen[port]][0], PORTS[name][0]
            return f"{a} and {b} are both {port}; give each service its own port"
        seen[port] = name
    return None


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on host:port (we can bind it ourselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free ports (for tests beside a dev stack)."""
    socks, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports
