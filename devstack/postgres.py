"""The local PostgreSQL server: Debian's ``postgresql`` package, one cluster under the state folder.

It holds Airflow's metadata database, MLflow's backend store and its users (basic auth), and
lakeFS's key-value store, one database each, as the compose stack and production do. It listens on
127.0.0.1 only, and its superuser ``retrain`` has a generated password that clients read from a
``.pgpass`` file (``PGPASSFILE``), never from a URL in a command line or a log.

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` system user that
the Debian package creates, and owns its data folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from .credentials import write_private

SUPERUSER = "retrain"
DATABASES = ("airflow", "mlflow", "mlflow_auth", "lakefs")


class PostgresMissing(RuntimeError):
    """The server binaries are not installed."""


def bin_dir() -> Path:
    """The newest installed server's bin folder (``/usr/lib/postgresql/<major>/bin``)."""
    override = os.environ.get("RETRAIN_POSTGRES_BIN")
    if override:
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresMissing(
            "PostgreSQL's server is not installed: run `make setup` (it installs Debian's postgresql package), "
            "or set RETRAIN_METADATA_DB=sqlite to run the stack without it"
        )
    return Path(found[-1]).parent


def _run_as() -> list[str]:
    """The prefix that runs a server program as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def cluster_root(state: Path) -> Path:
    """Where the cluster lives: ``<state>/postgres``, unless we are root and the ``postgres`` user
    cannot traverse to it (a checkout below /root, say): then below the postgres user's home,
    keyed by the state folder, so each stack has its own cluster."""
    inside = state / "postgres"
    if os.geteuid() != 0:
        return inside
    blocked = [p for p in state.parents if p != Path("/") and not p.stat().st_mode & 0o001]
    if not blocked:
        return inside
    import hashlib

    key = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return Path(pwd.getpwnam("postgres").pw_dir) / "retrain" / key


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


class Cluster:
    """One PostgreSQL cluster in ``root`` (data, socket folder), on ``port`` of 127.0.0.1."""

    def __init__(self, root: Path, port: int, password: str) -> None:
        self.root, self.port, self.password = root, port, password
        self.data = root / "data"
        self.sockets = root / "run"
        self.pgpass = root / "pgpass"

    def prepare(self) -> None:
        """Create the cluster once (``initdb``), and the client's password file."""
        write_private(self.pgpass, f"127.0.0.1:{self.port}:*:{SUPERUSER}:{self.password}\n")
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.sockets):
            path.mkdir(parents=True, exist_ok=True)
            _own(path)
        if os.geteuid() == 0:  # the server user reaches its folder through ours (traverse only)
            parent = self.root.parent
            if not parent.stat().st_mode & 0o001:
                os.chmod(parent, parent.stat().st_mode | 0o001)
        pwfile = self.root / "initdb-password"
        write_private(pwfile, self.password + "\n")
        _own(pwfile)
        try:
            subprocess.run(
                [
                    *_run_as(),
                    str(bin_dir() / "initdb"),
                    f"--pgdata={self.data}",
                    f"--username={SUPERUSER}",
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(self.data, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {exc.stderr[-1500:]}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def argv(self) -> list[str]:
        """The server in the foreground: loopback TCP only, the socket in our folder."""
        return [
            *_run_as(),
            str(bin_dir() / "postgres"),
            "-D",
            str(self.data),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.sockets}",
            "-c",
            "max_connections=200",  # Airflow's processes and tasks, MLflow, lakeFS
            "-c",
            "fsync=off",  # a development stack: speed over crash safety of the OS
        ]

    def connect(self, database: str = "postgres") -> object:
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password, dbname=database, connect_timeout=3
        )

    def healthy(self) -> bool:
        try:
            conn = self.connect()
        except Exception:
            return False
        conn.close()  # type: ignore[attr-defined]
        return True

    def create_databases(self) -> list[str]:
        """The databases of the services that do not exist yet; returns those it created."""
        conn = self.connect()
        conn.autocommit = True  # type: ignore[attr-defined]
        created = []
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT datname FROM pg_database")
            existing = {row[0] for row in cur.fetchall()}
            for name in DATABASES:
                if name not in existing:
                    cur.execute(f'CREATE DATABASE "{name}"')
                    created.append(name)
        conn.close()  # type: ignore[attr-defined]
        return created

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        """A URL without the password (clients read it from ``PGPASSFILE``); SQLAlchemy 2.1's default
        driver for ``postgresql://`` is psycopg 3, so the URL names the psycopg2 of the lock."""
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"
