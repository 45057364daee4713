"""The stack manager against real processes: health, idempotent up, clear errors, clean down."""

import socket
import tempfile
from pathlib import Path

import pytest

from devstack import processes
from devstack.services import Stack, StackError
from tests.conftest import new_stack_config


def test_every_service_is_healthy(stack):
    rows = stack.status()
    assert [r["service"] for r in rows if r["state"] != "healthy"] == []
    assert {r["service"] for r in rows} >= {
        "postgres",
        "ray-worker-1",
        "ray-worker-2",
        "s3",
        "lakefs",
        "mlflow",
        "ray",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    }


def test_up_when_up_changes_nothing(stack):
    before = {r["service"]: r["pid"] for r in stack.status()}
    said: list[str] = []
    Stack(stack.config, out=said.append).up()
    assert said[0] == "Stack already up; nothing changed."
    assert {r["service"]: r["pid"] for r in stack.status()} == before


def test_every_listening_socket_of_the_stack_is_on_loopback(stack):
    import psutil

    ours = stack.processes()
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in ours]
    assert len(listening) >= 8, "expected the services' listening sockets"
    exposed = [
        (c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name())
        for c in listening
        if c.laddr.ip not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")
    ]
    assert exposed == []
    ports = {c.laddr.port for c in listening}
    for name in (
        "postgres",
        "lakefs",
        "mlflow",
        "s3",
        "airflow",
        "ray_dashboard",
        "ray_gcs",
        "ray_worker1_node_manager",
    ):
        assert stack.config.ports[name] in ports, name


def test_airflow_settings_are_applied(stack):
    api = stack.airflow_api()
    conns = {c["connection_id"] for c in api.request("GET", "connections").json()["connections"]}
    assert conns >= {"aws_landing", "lakefs_default", "mlflow_default", "ray_default"}
    pools = {p["name"] for p in api.request("GET", "pools").json()["pools"]}
    assert "lakefs_merge" in pools
    landing = api.request("GET", "connections/aws_landing").json()
    assert stack.config.url("s3") in landing["extra"]


def test_port_in_use_names_the_service_and_variable():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cfg = new_stack_config(s3=busy.getsockname()[1])
        with pytest.raises(StackError, match=r"S3 landing \(moto\): port \d+ .* set S3_PORT"):
            Stack(cfg, out=lambda _: None).up()
    assert processes.marked_processes(cfg.stack_id) == []


def test_failed_health_check_prints_log_and_stops_what_started(monkeypatch):
    monkeypatch.setenv("LAKEFS_BIN", "/bin/false")
    cfg = new_stack_config(Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp")))
    said: list[str] = []
    st = Stack(cfg, out=said.append)
    with pytest.raises(StackError, match=r"lakeFS exited with code 1 during start\. Last lines of .*lakefs\.log"):
        st.up()
    assert "Stopping the services started by this call: postgres, s3, lakefs" in said
    assert processes.marked_processes(cfg.stack_id) == []
    st.down()
    assert said[-1] == "Nothing running."


@pytest.mark.stack_teardown
def test_down_leaves_no_process_behind(stack):
    before = stack.processes()
    assert len(before) > 8, "the stack should be running before down"
    stack.down()
    assert [pid for pid in before if processes.alive(pid)] == []
    assert processes.marked_processes(stack.config.stack_id) == []
    assert not list((stack.state / "run").glob("*.pid"))
    said: list[str] = []
    Stack(stack.config, out=said.append).down()
    assert said == ["Nothing running."]
