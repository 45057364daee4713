"""The services of the local stack and the ``up`` / ``down`` / ``status`` logic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from include.retrain.lake.lakefs_io import LakeFSEndpoint

from . import airflow_settings, postgres, processes, ray_cluster
from .airflow_api import AirflowAPI
from .credentials import FILE_NAME as CREDENTIALS_FILE
from .credentials import MLFLOW_ADMIN, MLFLOW_PIPELINE, Credentials, load_or_create, write_private
from .stack_config import HOST, PORTS, StackConfig, port_is_free

# Ray's token auth is on for the cluster: anyone who can reach the Jobs API could otherwise run
# code as the stack, with its lakeFS and MLflow credentials. Airflow's processes are Ray clients
# that send the token of the ray_default connection themselves, so their own mode stays off (Ray
# 2.60 would otherwise pick up a ~/.ray/auth_token left by any earlier ray.init on the machine).
RAY_CLUSTER_AUTH_MODE = "token"
RAY_CLIENT_AUTH_MODE = "disabled"
# Imported once by the scheduler's forkserver (Airflow's [scheduler] mp_forkserver_preload), so
# that the tasks forked from LocalExecutor's workers find them imported: Great Expectations alone
# is about 3 s of a validation. Libraries only, never the product's own modules: a task must run
# the code on disk, not the code of the scheduler's start. docker/compose.yaml sets the same.
TASK_LIBRARIES = (
    "airflow.sdk.execution_time.task_runner",
    "airflow.providers.amazon.aws.hooks.s3",
    "pandas",
    "pyarrow.parquet",
    "great_expectations",
    "lakefs",
    "mlflow",
    "ray.job_submission",
)
SINGLE_THREADED_IMPORTS = {"JE_ARROW_MALLOC_CONF": "background_thread:false", "OPENBLAS_NUM_THREADS": "1"}


class StackError(RuntimeError):
    """The stack could not be brought up; the message says why and what to do."""


@dataclass
class Service:
    name: str
    title: str
    argv: list[str]
    ports: list[str]
    health: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    start_timeout: float = 90.0
    stop_grace: float = 20.0


def _http_ok(url: str, *codes: int, headers: dict[str, str] | None = None) -> Callable[[], bool]:
    accepted = codes or (200,)

    def check() -> bool:
        try:
            return requests.get(url, timeout=3, headers=headers).status_code in accepted
        except requests.RequestException:
            return False

    return check


class Stack:
    """One local stack, described by a :class:`StackConfig`."""

    def __init__(self, config: StackConfig, out: Callable[[str], None] = print) -> None:
        self.config = config
        self.out = out
        self.bin = Path(sys.executable).parent
        self._creds: Credentials | None = None
        self._children: list[subprocess.Popen[bytes]] = []

    # -- paths and credentials ------------------------------------------------------------
    @property
    def state(self) -> Path:
        return self.config.state_dir

    @property
    def credentials_file(self) -> Path:
        return self.state / CREDENTIALS_FILE

    @property
    def creds(self) -> Credentials:
        if self._creds is None:
            self._creds, created = load_or_create(self.state)
            if created:
                self.out(f"Generated local credentials in {self.credentials_file} (mode 0600)")
        return self._creds

    def _log(self, name: str) -> Path:
        return self.state / "logs" / f"{name}.log"

    def _pidfile(self, name: str) -> Path:
        return self.state / "run" / f"{name}.pid"

    # -- environments ----------------------------------------------------------------------
    def base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.config.extra_env)
        env[processes.MARKER] = self.config.stack_id
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(self.config.root)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        return env

    def airflow_env(self) -> dict[str, str]:
        """Environment of every Airflow process of this stack (and of the CLI in env.sh)."""
        c, home = self.config, self.state / "airflow"
        env = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(c.root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(c.root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__FERNET_KEY": self.creds.airflow_fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.creds.airflow_username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__BASE_URL": c.url("airflow"),
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(c.ports["airflow"]),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self.creds.airflow_api_secret_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.creds.airflow_jwt_secret,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # The next task of a run is queued up to one idle sleep after the last ended: 1 s by
            # default, i.e. most of a no-change night's cost on this small stack.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            # LocalExecutor's workers start from a forkserver that imported the libraries the tasks
            # use, and each task forks from its worker: no task imports them again
            "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
            "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(TASK_LIBRARIES),
            # ... and that server stays one thread, so forking it is safe: pyarrow's bundled
            # jemalloc starts a purging thread and OpenBLAS a pool at import unless told not to
            **SINGLE_THREADED_IMPORTS,
            "RETRAIN_STATE_DIR": str(self.state),
            # make run is unattended: an inconclusive gate waits this long for a person, then keeps
            # the champion (datasets.yaml may set gate.approval_timeout_minutes per dataset)
            "RETRAIN_APPROVAL_TIMEOUT_MINUTES": os.environ.get("RETRAIN_APPROVAL_TIMEOUT_MINUTES", "3"),
            "GX_ANALYTICS_ENABLED": "false",
            "RAY_AUTH_MODE": RAY_CLIENT_AUTH_MODE,
        }
        if self.on_postgres:  # the stack's own database, whatever this process was configured with
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.postgres.url("airflow")
            env.update(self.database_env())
        else:  # SQLite, or any database the user configured
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = os.environ.get(
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}"
            )
        return env

    def settings_values(self) -> dict[str, str]:
        """Values for the ``${NAME}`` placeholders of airflow_settings.yaml."""
        c, cr = self.config, self.creds
        return {
            "S3_ENDPOINT": c.url("s3"),
            "S3_ACCESS_KEY_ID": cr.s3_access_key_id,
            "S3_SECRET_ACCESS_KEY": cr.s3_secret_access_key,
            "LAKEFS_ENDPOINT": c.url("lakefs"),
            "LAKEFS_ACCESS_KEY_ID": cr.lakefs_access_key_id,
            "LAKEFS_SECRET_ACCESS_KEY": cr.lakefs_secret_access_key,
            "MLFLOW_ENDPOINT": c.url("mlflow"),
            "MLFLOW_USERNAME": MLFLOW_PIPELINE,
            "MLFLOW_PASSWORD": cr.mlflow_pipeline_password,
            "RAY_AUTH_TOKEN": cr.ray_auth_token,
            "RAY_DASHBOARD_ENDPOINT": c.url("ray_dashboard"),
            "LANDING_BUCKET": c.landing_bucket,
            "AIRFLOW_ENDPOINT": c.url("airflow"),
            "AIRFLOW_USERNAME": cr.airflow_username,
            "AIRFLOW_PASSWORD": cr.airflow_password,
        }

    def settings(self) -> dict[str, list[dict[str, Any]]]:
        return airflow_settings.load(self.config.root / "airflow_settings.yaml", self.settings_values())

    def connection_env(self) -> dict[str, str]:
        """The settings file's connections as AIRFLOW_CONN_* variables (for ``airflow dags test``)."""
        return dict(airflow_settings.connection_env(c) for c in self.settings()["connections"])

    # -- service table -----------------------------------------------------------------------
    @property
    def postgres(self) -> postgres.Cluster:
        """The local PostgreSQL cluster (used unless ``metadata_db`` is sqlite)."""
        root = postgres.cluster_root(self.state)
        return postgres.Cluster(root, self.config.ports["postgres"], self.creds.postgres_password)

    @property
    def on_postgres(self) -> bool:
        return self.config.metadata_db == "postgres"

    def database_env(self) -> dict[str, str]:
        """What a client of the local PostgreSQL needs: the password file (URLs carry no password)."""
        return {"PGPASSFILE": str(self.postgres.pgpass)} if self.on_postgres else {}

    def services(self) -> list[Service]:
        c, cr, b, st = self.config, self.creds, self.bin, self.state
        lakefs_env = {
            "LAKEFS_LISTEN_ADDRESS": f"{HOST}:{c.ports['lakefs']}",
            "LAKEFS_BLOCKSTORE_TYPE": "local",
            "LAKEFS_BLOCKSTORE_LOCAL_PATH": str(st / "lakefs" / "data"),
            "LAKEFS_COMMITTED_LOCAL_CACHE_DIR": str(st / "lakefs" / "cache"),  # not the shared ~/lakefs
            "LAKEFS_AUTH_ENCRYPT_SECRET_KEY": cr.lakefs_encrypt_secret,
            "LAKEFS_INSTALLATION_USER_NAME": "admin",
            "LAKEFS_INSTALLATION_ACCESS_KEY_ID": cr.lakefs_access_key_id,
            "LAKEFS_INSTALLATION_SECRET_ACCESS_KEY": cr.lakefs_secret_access_key,
            "LAKEFS_STATS_ENABLED": "false",
            "LAKEFS_SECURITY_CHECK_LATEST_VERSION": "false",
            "LAKEFS_EMAIL_SUBSCRIPTION_ENABLED": "false",
            "LAKEFS_LOGGING_LEVEL": "INFO",
            **self.database_env(),
        }
        if self.on_postgres:  # the key-value store on PostgreSQL, as in compose and production
            lakefs_env["LAKEFS_DATABASE_TYPE"] = "postgres"
            lakefs_env["LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING"] = (
                self.postgres.url("lakefs", driver="postgres") + "?sslmode=disable"
            )
        else:
            lakefs_env["LAKEFS_DATABASE_TYPE"] = "local"
            lakefs_env["LAKEFS_DATABASE_LOCAL_PATH"] = str(st / "lakefs" / "metadata")
        mlflow_store = self.postgres.url("mlflow") if self.on_postgres else f"sqlite:///{st / 'mlflow' / 'mlflow.db'}"
        airflow_env = self.airflow_env()
        api = c.url("airflow")
        table = [
            Service(
                "s3",
                "S3 landing (moto)",
                [str(b / "moto_server"), "-H", HOST, "-p", str(c.ports["s3"])],
                ["s3"],
                _http_ok(c.url("s3") + "/moto-api/", 200),
                url=c.url("s3"),
            ),
            Service(
                "lakefs",
                "lakeFS",
                [str(c.lakefs_bin), "run"],
                ["lakefs"],
                _http_ok(c.url("lakefs") + "/api/v1/healthcheck", 204),
                env=lakefs_env,
                url=c.url("lakefs"),
            ),
            Service(
                "mlflow",
                "MLflow",
                [
                    str(b / "mlflow"),
                    "server",
                    "--host",
                    HOST,
                    "--port",
                    str(c.ports["mlflow"]),
                    "--workers",
                    "1",
                    "--backend-store-uri",
                    mlflow_store,
                    "--artifacts-destination",
                    str(st / "mlflow" / "artifacts"),
                    "--app-name",
                    "basic-auth",
                ],
                ["mlflow"],
                _http_ok(c.url("mlflow") + "/health"),
                env={
                    "MLFLOW_AUTH_CONFIG_PATH": str(self.mlflow_auth_config),
                    # signs the basic-auth app's CSRF tokens
                    "MLFLOW_FLASK_SERVER_SECRET_KEY": self.creds.mlflow_flask_secret_key,
                    **self.database_env(),
                },
                url=c.url("mlflow"),
            ),
            *ray_cluster.services(self),
            Service(
                "airflow-api-server",
                "Airflow api-server",
                [str(b / "airflow"), "api-server"],
                ["airflow"],
                _http_ok(api + "/api/v2/monitor/health"),
                env=airflow_env,
                url=api,
                start_timeout=180,
            ),
            # One machine: the api-server reads task logs from disk, so no log servers (they bind 0.0.0.0).
            *(
                Service(
                    f"airflow-{command}",
                    f"Airflow {command}",
                    [str(b / "airflow"), command, *extra],
                    [],
                    self._airflow_component_ok(command.replace("-", "_")),
                    env=airflow_env,
                    start_timeout=180,
                )
                for command, extra in (
                    ("scheduler", ["--skip-serve-logs"]),
                    ("dag-processor", []),
                    ("triggerer", ["--skip-serve-logs"]),
                )
            ),
        ]
        if self.on_postgres:
            pg = self.postgres
            table.insert(0, Service("postgres", "PostgreSQL", pg.argv(), ["postgres"], pg.healthy, stop_grace=30.0))
        return table

    def ray_cluster_env(self) -> dict[str, str]:
        """What the Ray cluster itself knows: where lakeFS and MLflow are, and its lakeFS key.

        Jobs inherit it, so no secret travels in a job's runtime_env (shown in the dashboard).
        """
        return {
            "RAY_USAGE_STATS_ENABLED": "0",
            # Linux Ray replaces a loopback node IP with the routable one and binds GCS, raylet and
            # agents to all interfaces; this (meant for single-node Windows/macOS) keeps all on 127.0.0.1.
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            # Token auth for every node, every job's driver and every worker (they inherit it).
            "RAY_AUTH_MODE": RAY_CLUSTER_AUTH_MODE,
            "RAY_AUTH_TOKEN_PATH": str(self.ray_token_file),
            "LAKECTL_SERVER_ENDPOINT_URL": self.config.url("lakefs"),
            "LAKECTL_CREDENTIALS_ACCESS_KEY_ID": self.creds.lakefs_access_key_id,
            "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY": self.creds.lakefs_secret_access_key,
            **self.mlflow_env(),
            "RETRAIN_TUNE_STORAGE": str(self.state / "tune"),
            "GX_ANALYTICS_ENABLED": "false",
        }

    def lakefs_endpoint(self) -> LakeFSEndpoint:
        """This stack's lakeFS, as the pipeline functions take it."""
        return LakeFSEndpoint(
            self.config.url("lakefs"), self.creds.lakefs_access_key_id, self.creds.lakefs_secret_access_key
        )

    # -- secrets of the services ------------------------------------------------------------------
    @property
    def ray_token_file(self) -> Path:
        return self.state / "ray" / "auth_token"

    @property
    def mlflow_auth_config(self) -> Path:
        return self.state / "mlflow" / "basic_auth.ini"

    def ray_token(self) -> str:
        return self.creds.ray_auth_token

    def ray_auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.creds.ray_auth_token}"}

    def mlflow_env(self, admin: bool = False) -> dict[str, str]:
        """MLflow's URL and a user, as the MLflow client reads them (the pipeline user, or the admin)."""
        user, password = (
            (MLFLOW_ADMIN, self.creds.mlflow_admin_password)
            if admin
            else (MLFLOW_PIPELINE, self.creds.mlflow_pipeline_password)
        )
        return {
            "MLFLOW_TRACKING_URI": self.config.url("mlflow"),
            "MLFLOW_TRACKING_USERNAME": user,
            "MLFLOW_TRACKING_PASSWORD": password,
        }

    def write_airflow_passwords(self) -> Path:
        """SimpleAuthManager's user file: the Airflow admin and its generated password."""
        body = json.dumps({self.creds.airflow_username: self.creds.airflow_password})
        return write_private(self.state / "airflow" / "passwords.json", body)

    def write_service_secrets(self) -> list[Path]:
        """The Ray cluster's token file and MLflow's basic-auth config (its admin and user store)."""
        ray = write_private(self.ray_token_file, self.creds.ray_auth_token)
        ini = (
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {self._mlflow_users_db()}\n"
            f"admin_username = {MLFLOW_ADMIN}\n"
            f"admin_password = {self.creds.mlflow_admin_password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # default_permission applies to the default workspace, where the pipeline works
            "grant_default_workspace_access = true\n"
            # Tune trials log a metric batch per epoch: check each password once a minute, not per call
            "auth_cache_ttl_seconds = 60\n"
        )
        return [ray, write_private(self.mlflow_auth_config, ini)]

    def _mlflow_users_db(self) -> str:
        if self.on_postgres:
            return self.postgres.url("mlflow_auth")
        return f"sqlite:///{self.state / 'mlflow' / 'basic_auth.db'}"

    def _ensure_mlflow_pipeline_user(self) -> None:
        """The tasks' MLflow user (created by the admin; its password reset to the generated one)."""
        url, admin = self.config.url("mlflow"), (MLFLOW_ADMIN, self.creds.mlflow_admin_password)
        user = {"username": MLFLOW_PIPELINE, "password": self.creds.mlflow_pipeline_password}
        resp = requests.post(f"{url}/api/2.0/mlflow/users/create", json=user, auth=admin, timeout=30)
        if resp.status_code != 200 and "already exists" in resp.text.lower():
            resp = requests.patch(f"{url}/api/2.0/mlflow/users/update-password", json=user, auth=admin, timeout=30)
        if resp.status_code != 200:
            raise StackError(f"MLflow: could not create the pipeline user: {resp.status_code} {resp.text[:300]}")

    def repro_env(self) -> dict[str, str]:
        """The environment of a DVC reproduction (make reproduce): this stack's lakeFS and MLflow."""
        keep = (
            "LAKECTL_SERVER_ENDPOINT_URL",
            "LAKECTL_CREDENTIALS_ACCESS_KEY_ID",
            "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
        )
        env = {**os.environ, **{k: v for k, v in self.ray_cluster_env().items() if k in keep}}
        env.update(self.mlflow_env())
        env["PYTHONPATH"] = str(self.config.root)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _airflow_component_ok(self, component: str) -> Callable[[], bool]:
        url = self.config.url("airflow") + "/api/v2/monitor/health"

        def check() -> bool:
            try:
                body = requests.get(url, timeout=3).json()
            except (requests.RequestException, ValueError):
                return False
            return (body.get(component) or {}).get("status") == "healthy"

        return check

    # -- lifecycle -------------------------------------------------------------------------------
    def pid(self, name: str) -> int | None:
        path = self._pidfile(name)
        if not path.exists():
            return None
        pid = int(json.loads(path.read_text())["pgid"])
        return pid if processes.group_members(pid) else None

    def processes(self) -> set[int]:
        """Every live process of this stack: its services' process groups, and anything carrying
        its marker (setproctitle may overwrite a process's environment, so both are needed)."""
        pids = set(processes.marked_processes(self.config.stack_id))
        for svc in self.services():
            path = self._pidfile(svc.name)
            if path.exists():
                pids.update(processes.group_members(int(json.loads(path.read_text())["pgid"])))
        return pids

    def status(self) -> list[dict[str, Any]]:
        rows = []
        for svc in self.services():
            pid = self.pid(svc.name)
            healthy = svc.health() if pid else False
            rows.append(
                {
                    "service": svc.name,
                    "title": svc.title,
                    "pid": pid,
                    "state": "healthy" if healthy else ("starting/unhealthy" if pid else "stopped"),
                    "url": svc.url,
                }
            )
        return rows

    def is_up(self) -> bool:
        return all(row["state"] == "healthy" for row in self.status())

    def up(self) -> None:
        """Start every service that is not running; a healthy stack is left untouched."""
        self.state.mkdir(parents=True, exist_ok=True)
        _ = self.creds
        if self.is_up():
            self.out("Stack already up; nothing changed.")
            self.print_status()
            return
        started: list[Service] = []
        try:
            for svc in self.services():
                if self.pid(svc.name):
                    self._wait_healthy(svc)
                    continue
                self._check_ports(svc)
                self._prepare(svc)
                self.out(f"starting {svc.title} ...")
                t0 = time.monotonic()
                proc = processes.spawn(
                    svc.argv, {**self.base_env(), **svc.env}, self._log(svc.name), cwd=self.config.root
                )
                self._children.append(proc)
                self._pidfile(svc.name).parent.mkdir(parents=True, exist_ok=True)
                self._pidfile(svc.name).write_text(json.dumps({"pgid": proc.pid, "argv": svc.argv}))
                started.append(svc)
                self._wait_healthy(svc, proc)
                self.out(
                    f"  {svc.title} healthy in {time.monotonic() - t0:.1f}s" + (f" at {svc.url}" if svc.url else "")
                )
                self._after_start(svc)
        except BaseException:
            if started:
                self.out("Stopping the services started by this call: " + ", ".join(s.name for s in started))
                for svc in reversed(started):
                    self._stop(svc.name, svc.stop_grace)
            raise
        self.write_env_file()
        self.print_status()

    def _check_ports(self, svc: Service) -> None:
        for name in svc.ports:
            port = self.config.ports[name]
            if not port_is_free(port):
                var = PORTS[name][0]
                raise StackError(
                    f"{svc.title}: port {port} ({PORTS[name][2]}) is already in use by another program. "
                    f"Stop that program or set {var} to a free port, e.g. `{var}={port + 1000} make up`."
                )

    def _wait_healthy(self, svc: Service, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + svc.start_timeout
        while time.monotonic() < deadline:
            if svc.health():
                return
            if proc is not None and proc.poll() is not None:
                raise StackError(
                    f"{svc.title} exited with code {proc.returncode} during start. "
                    f"Last lines of {self._log(svc.name)}:\n{processes.tail(self._log(svc.name))}"
                )
            time.sleep(0.5)
        raise StackError(
            f"{svc.title} failed its health check within {svc.start_timeout:.0f}s. "
            f"Last lines of {self._log(svc.name)}:\n{processes.tail(self._log(svc.name))}"
        )

    def _prepare(self, svc: Service) -> None:
        if svc.name == "postgres":
            self.postgres.prepare()
        if svc.name == "lakefs" and not self.config.lakefs_bin.exists():
            raise StackError(f"lakeFS binary missing at {self.config.lakefs_bin}: run `make setup` first")
        if svc.name in ("mlflow", "ray"):
            self.write_service_secrets()
        if svc.name == "airflow-api-server":
            self._airflow_init()

    def _airflow_init(self) -> None:
        home = self.state / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        self.write_airflow_passwords()
        self.out("migrating the Airflow metadata database ...")
        env = {**self.base_env(), **self.airflow_env()}
        log = self._log("airflow-db-migrate")
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            rc = subprocess.call(
                [str(self.bin / "airflow"), "db", "migrate"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.config.root,
            )
        if rc != 0:
            raise StackError(f"`airflow db migrate` failed (exit {rc}). Last lines of {log}:\n{processes.tail(log)}")

    def _after_start(self, svc: Service) -> None:
        if svc.name == "postgres":
            created = self.postgres.create_databases()
            if created:
                self.out(f"  created databases {', '.join(created)}")
        if svc.name == "s3":
            self._create_landing_bucket()
        if svc.name == "lakefs":
            self._setup_lakefs()
        if svc.name == "mlflow":
            self._ensure_mlflow_pipeline_user()
        if svc.name == "airflow-triggerer":
            self.apply_airflow_settings()

    def _setup_lakefs(self) -> None:
        """Create lakeFS's admin with the generated key pair, once. lakeFS does that by itself only
        on its local key-value store; on PostgreSQL it waits for the setup call (as in production).
        The keys travel in the request body, never in a command line."""
        url = self.config.url("lakefs") + "/api/v1/setup_lakefs"
        if requests.get(url, timeout=10).json().get("state") == "initialized":
            return
        key = {
            "access_key_id": self.creds.lakefs_access_key_id,
            "secret_access_key": self.creds.lakefs_secret_access_key,
        }
        resp = requests.post(url, json={"username": "admin", "key": key}, timeout=30)
        if resp.status_code not in (200, 409):  # 409: set up meanwhile
            raise StackError(f"lakeFS setup failed: HTTP {resp.status_code} {resp.text[:300]}")
        self.out("  set up lakeFS's admin (generated keys)")

    def s3_client(self) -> Any:
        """A boto3 client of this stack's landing zone."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.config.url("s3"),
            region_name="us-east-1",
            aws_access_key_id=self.creds.s3_access_key_id,
            aws_secret_access_key=self.creds.s3_secret_access_key,
        )

    def _create_landing_bucket(self) -> None:
        s3 = self.s3_client()
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if self.config.landing_bucket not in existing:
            s3.create_bucket(Bucket=self.config.landing_bucket)
            self.out(f"  created landing bucket s3://{self.config.landing_bucket}")

    def airflow_api(self) -> AirflowAPI:

        return AirflowAPI(
            self.config.url("airflow"),
            self.creds.airflow_username,
            self.creds.airflow_password,
            on_sqlite=not self.on_postgres,
        )

    def apply_airflow_settings(self) -> None:
        """Create or update the connections, pools and variables of airflow_settings.yaml."""
        api, s = self.airflow_api(), self.settings()
        for conn in s["connections"]:
            api.upsert("connections", "connection_id", airflow_settings.connection_body(conn))
        for pool in s["pools"]:
            api.upsert(
                "pools",
                "name",
                {
                    "name": pool["pool_name"],
                    "slots": int(pool["pool_slot"]),
                    "description": pool.get("pool_description"),
                    "include_deferred": bool(pool.get("include_deferred", False)),
                },
            )
        for var in s["variables"]:
            api.upsert("variables", "key", {"key": var["variable_name"], "value": str(var["variable_value"])})
        self.out(
            f"  applied airflow_settings.yaml: {len(s['connections'])} connections, "
            f"{len(s['pools'])} pools, {len(s['variables'])} variables"
        )

    def write_env_file(self) -> Path:
        """``.local/env.sh``: source it to use the ``airflow`` CLI against this stack."""
        env = {**self.airflow_env(), "PYTHONPATH": str(self.config.root)}
        lines = [f"export {k}={_shell_quote(v)}" for k, v in env.items()]
        lines.insert(0, f'export PATH="{self.bin}:$PATH"')
        header = "# Generated by `make up`: source it to run the airflow CLI against the local stack.\n"
        return write_private(self.state / "env.sh", header + "\n".join(lines) + "\n")

    def down(self) -> None:
        """Stop every service this stack started, then anything left carrying its marker."""
        stopped = []
        for svc in reversed(self.services()):
            if self._stop(svc.name, svc.stop_grace):
                stopped.append(svc.name)
        leftovers = processes.stop_marked(self.config.stack_id)
        for proc in self._children:
            proc.poll()
        if stopped or leftovers:
            self.out(
                f"Stopped: {', '.join(stopped) or '-'}" + (f" (+{len(leftovers)} stray processes)" if leftovers else "")
            )
        else:
            self.out("Nothing running.")

    def _stop(self, name: str, grace: float = 20.0) -> bool:
        path = self._pidfile(name)
        if not path.exists():
            return False
        pgid = int(json.loads(path.read_text())["pgid"])
        alive = bool(processes.group_members(pgid))
        if alive:
            processes.stop_group(pgid, grace)
        path.unlink(missing_ok=True)
        return alive

    def print_status(self) -> None:
        rows = self.status()
        self.out("")
        self.out(f"{'service':<24}{'state':<20}{'pid':<9}url")
        for r in rows:
            self.out(f"{r['service']:<24}{r['state']:<20}{r['pid'] or '-'!s:<9}{r['url'] or ''}")
        self.out("")
        self.out(
            f"Credentials: {self.credentials_file} (Airflow user '{self.creds.airflow_username}'; "
            f"lakeFS keys; landing S3 keys)"
        )
        self.out(f"Airflow CLI against this stack: source {self.state / 'env.sh'}")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def stack_from_env(environ: Mapping[str, str] | None = None, out: Callable[[str], None] = print) -> Stack:
    return Stack(StackConfig.from_env(environ), out=out)
