"""Test session setup.

* Airflow reads its configuration at import time, so this process gets its own
  AIRFLOW_HOME before anything imports airflow: tests never touch a dev stack.
* Tests are marked by folder (unit, dags, integration, e2e).
* ``stack`` starts the real local stack (lakeFS, MLflow, S3, Ray, Airflow) once per
  session, on free ports and in a temporary state folder, beside any running dev stack.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="rt-airflow-home-"))
# The DAGs of the test stack parse a copy of include/datasets.yaml whose pump_fleet runs have a
# 30 s deadline, so every full sensor run really misses it and raises a deadline alert, plus
# pump_guard: pump_fleet on a landing prefix and repository of its own with the default deadline,
# for the operator's paths (tests/e2e/test_operator_paths.py), plus two real datasets (below).
_DATASETS = _AIRFLOW_HOME / "datasets.yaml"
_shipped = yaml.safe_load((ROOT / "include" / "datasets.yaml").read_text())
_pump = next(e for e in _shipped["datasets"] if e["name"] == "pump_fleet")
_guard = {**copy.deepcopy(_pump), "name": "pump_guard", "landing": {**_pump["landing"], "prefix": "pump_guard"}}
del _guard["deadline_minutes"]
_pump["deadline_minutes"] = 0.5
_shipped["datasets"].append(_guard)
# motions_fleet: real recordings (BasicMotions, shipped in sktime) as a user would add them: only
# channels, labels, window and a floor; every other field default (tests/e2e/test_real_sensor_fleet.py).
_shipped["datasets"].append(
    {
        "name": "motions_fleet",
        "modality": "sensor",
        "description": "Smartwatch activity recordings (BasicMotions, UEA archive) landed as a fleet of watches.",
        "landing": {"bucket": "landing", "prefix": "motions_fleet"},
        "sensor": {
            "channels": ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"],
            "labels": ["badminton", "running", "standing", "walking"],
            "window": 50,
            "stride": 25,
        },
        "gate": {"floor": 0.6},
    }
)
# digits: scikit-learn's handwritten digits as 8x8 PNGs of mixed pixel formats (tests/e2e/test_real_images.py)
_shipped["datasets"].append(
    {
        "name": "digits",
        "modality": "image",
        "landing": {"bucket": "landing", "prefix": "digits"},
        "image": {"size": [8, 8], "labels": [str(d) for d in range(10)]},
        "gate": {"floor": 0.6},
    }
)
# pump_approval: a gate that asks a person (margin 0: equally good candidates are inconclusive), a
# 2-minute approval timeout and 3 runs at once (tests/e2e/test_approval.py)
_approval = copy.deepcopy(_guard) | {"name": "pump_approval", "max_active_runs": 3}
_approval["landing"] = {**_pump["landing"], "prefix": "pump_approval"}
_approval["gate"] = {**_pump["gate"], "floor": 0.6, "max_regression": 0.0, "approval_timeout_minutes": 2}
_shipped["datasets"].append(_approval)
# pump_first: pump_fleet on a repository of its own that never has a champion while its test runs
# (tests/e2e/test_no_champion.py)
_first = copy.deepcopy(_guard) | {"name": "pump_first", "landing": {**_pump["landing"], "prefix": "pump_first"}}
_first["gate"] = {**_pump["gate"], "floor": 0.6}  # a clear reject with mislabelled training, a promote without
# every run of it has its files examined by a Ray job, which the DAG's validate task submits
_first["validation"] = {**_pump.get("validation", {}), "spread_above_mb": 0}
_shipped["datasets"].append(_first)
_DATASETS.write_text(yaml.safe_dump(_shipped, sort_keys=False))
TEST_DEADLINE_MINUTES = {"pump_fleet": 0.5}
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "RETRAIN_DATASETS_FILE": str(_DATASETS),
        # Nobody answers an inconclusive gate in the tests but in test_approval.py (pump_approval sets
        # its own 2 minutes): the timeout keeps the champion after 30 s, not make run's 3 minutes.
        "RETRAIN_APPROVAL_TIMEOUT_MINUTES": "0.5",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    }
)

from devstack.services import Stack  # noqa: E402
from devstack.stack_config import PORTS, StackConfig, free_ports  # noqa: E402

_LAYERS = ("unit", "dags", "static", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in _LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
    # The teardown checks run after everything else that uses the session stack.
    # Then the scans of what the whole session left behind; the teardown checks last of all.
    items.sort(
        key=lambda it: (it.get_closest_marker("stack_teardown") is not None, bool(it.get_closest_marker("scan_late")))
    )


def new_stack_config(state_dir: Path | None = None, **port_overrides: int) -> StackConfig:
    """A stack config on free ports with a short state path (Ray's unix sockets need one)."""
    state = state_dir or Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    ports.update(port_overrides)
    return StackConfig(state_dir=state, ports=ports)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The real local stack, started once for the whole session."""
    st = Stack(new_stack_config(), out=lambda msg: print(f"[stack] {msg}", flush=True))
    try:
        st.up()
        # The tests are clients of the authenticated services: Ray with the cluster's token (Jobs
        # and state APIs), MLflow as its admin (they read and tidy what the pipeline user wrote).
        os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": st.ray_token(), **st.mlflow_env(admin=True)})
        yield st
    finally:
        st.down()
        logs = st.state / "logs"
        if logs.exists():
            shutil.copytree(logs, ARTIFACTS / "stack-logs", dirs_exist_ok=True)
        shutil.rmtree(st.state, ignore_errors=True)
