import json
import stat

import pytest

from devstack import airflow_settings
from devstack.credentials import load_or_create
from devstack.stack_config import PORTS, StackConfig, StackConfigError


def test_defaults_match_the_documented_ports():
    cfg = StackConfig.from_env({})
    assert cfg.ports["lakefs"] == 8000
    assert cfg.ports["mlflow"] == 5000
    assert cfg.ports["s3"] == 9000
    assert cfg.ports["airflow"] == 8080
    assert cfg.ports["ray_dashboard"] == 8265
    assert cfg.url("lakefs") == "http://127.0.0.1:8000"


def test_every_port_comes_from_its_environment_variable():
    env = {var: str(20000 + i) for i, (var, _, _) in enumerate(PORTS.values())}
    cfg = StackConfig.from_env(env)
    assert sorted(cfg.ports.values()) == list(range(20000, 20000 + len(PORTS)))


def test_a_bad_port_names_the_variable():
    with pytest.raises(StackConfigError, match="LAKEFS_PORT='eighty'"):
        StackConfig.from_env({"LAKEFS_PORT": "eighty"})
    with pytest.raises(StackConfigError, match="MLFLOW_PORT=70000"):
        StackConfig.from_env({"MLFLOW_PORT": "70000"})


def test_two_services_on_one_port_is_refused_with_both_variables():
    with pytest.raises(StackConfigError, match="LAKEFS_PORT and MLFLOW_PORT are both 7000"):
        StackConfig.from_env({"LAKEFS_PORT": "7000", "MLFLOW_PORT": "7000"})


def test_ray_temp_dir_stays_short_for_unix_sockets(tmp_path):
    deep = tmp_path / ("x" * 80)
    cfg = StackConfig.from_env({"RETRAIN_STATE_DIR": str(deep)})
    assert len(str(cfg.ray_temp_dir)) < 40
    assert StackConfig.from_env({"RETRAIN_STATE_DIR": "/tmp/s"}).ray_temp_dir.as_posix() == "/tmp/s/ray"


def test_credentials_are_generated_once_and_private(tmp_path):
    first, created = load_or_create(tmp_path)
    again, created_again = load_or_create(tmp_path)
    assert created and not created_again
    assert first == again
    mode = stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode)
    assert mode == 0o600
    assert len(first.lakefs_secret_access_key) == 40
    assert first.airflow_password not in json.dumps(first.airflow_username)


def test_settings_fill_placeholders_and_render_connections(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(
        "airflow:\n"
        "  connections:\n"
        "    - conn_id: aws_landing\n"
        "      conn_type: aws\n"
        "      conn_login: ${KEY}\n"
        "      conn_extra: {endpoint_url: '${URL}'}\n"
        "  pools: [{pool_name: p, pool_slot: 2}]\n"
        "  variables: [{variable_name: v, variable_value: '${URL}/x'}]\n"
    )
    s = airflow_settings.load(f, {"KEY": "k1", "URL": "http://h:1"})
    conn = s["connections"][0]
    body = airflow_settings.connection_body(conn)
    assert body["login"] == "k1"
    assert json.loads(body["extra"]) == {"endpoint_url": "http://h:1"}
    name, value = airflow_settings.connection_env(conn)
    assert name == "AIRFLOW_CONN_AWS_LANDING"
    assert json.loads(value) == {"conn_type": "aws", "login": "k1", "extra": {"endpoint_url": "http://h:1"}}
    assert s["variables"][0]["variable_value"] == "http://h:1/x"


def test_unknown_placeholder_is_a_clear_error(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("airflow:\n  variables: [{variable_name: v, variable_value: '${NOPE}'}]\n")
    with pytest.raises(airflow_settings.AirflowSettingsError, match=r"unknown placeholder \$\{NOPE\}.*known: A"):
        airflow_settings.load(f, {"A": "1"})


def test_the_shipped_settings_file_declares_the_contract_connections(tmp_path):
    from devstack.services import Stack

    stack = Stack(StackConfig.from_env({"RETRAIN_STATE_DIR": str(tmp_path)}), out=lambda _: None)
    s = stack.settings()
    assert {c["conn_id"] for c in s["connections"]} >= {
        "aws_landing",
        "lakefs_default",
        "mlflow_default",
        "ray_default",
    }
    assert {p["pool_name"] for p in s["pools"]} >= {"lakefs_merge", "ray_training"}
    env = stack.connection_env()
    assert stack.config.url("lakefs") in env["AIRFLOW_CONN_LAKEFS_DEFAULT"]


def test_every_secret_file_is_private_from_its_first_byte(tmp_path, monkeypatch):
    """Written with mode 0600 at creation: no chmod afterwards, so no moment where another user
    of the machine could read it (umask 0 here would make a plainly created file world-readable)."""
    import os
    import stat
    from pathlib import Path

    from devstack.services import Stack

    stack = Stack(StackConfig.from_env({"RETRAIN_STATE_DIR": str(tmp_path)}), out=lambda _: None)
    old = os.umask(0)
    try:
        monkeypatch.setattr(Path, "chmod", lambda *a, **k: pytest.fail("a secret file was chmod-ed after creation"))
        written = [stack.credentials_file, stack.write_env_file(), stack.write_airflow_passwords()]
        written += stack.write_service_secrets()  # Ray token, MLflow auth config
    finally:
        os.umask(old)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_postgres_is_the_default_and_sqlite_the_one_variable_opt_out(tmp_path):
    from devstack.services import Stack

    default = Stack(StackConfig.from_env({"RETRAIN_STATE_DIR": str(tmp_path / "a")}), out=lambda _: None)
    names = [s.name for s in default.services()]
    assert names[0] == "postgres" and {"ray", "ray-worker-1", "ray-worker-2"} <= set(names)
    env = default.airflow_env()
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://retrain@127.0.0.1:5432/airflow")
    assert "PGPASSFILE" in env and default.creds.postgres_password not in str(default.services())
    lakefs = next(s for s in default.services() if s.name == "lakefs")
    assert lakefs.env["LAKEFS_DATABASE_TYPE"] == "postgres"
    sqlite = Stack(
        StackConfig.from_env({"RETRAIN_STATE_DIR": str(tmp_path / "b"), "RETRAIN_METADATA_DB": "sqlite"}),
        out=lambda _: None,
    )
    assert "postgres" not in [s.name for s in sqlite.services()]
    assert sqlite.airflow_env()["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    with pytest.raises(StackConfigError, match="RETRAIN_METADATA_DB='mysql'"):
        StackConfig.from_env({"RETRAIN_METADATA_DB": "mysql"})
