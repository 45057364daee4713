"""Every DAG parses, follows the house rules, and imports nothing heavy at parse time."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
HEAVY = ("torch", "ray", "mlflow", "great_expectations", "lakefs", "pandas", "sklearn", "boto3")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG was found"


def test_every_dag_has_owner_retries_tags_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md) > 50, f"{dag_id}: doc_md missing"
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.catchup is False, f"{dag_id}: catchup must be off"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}: owner not set"
            assert task.retries >= 1, f"{dag_id}.{task.task_id}: no retries"


def test_smoke_dag_wires_every_link_in_order(dagbag):
    dag = dagbag.dags["smoke_platform"]
    order = ["read_landing_object", "publish_to_lakefs", "run_ray_job", "log_mlflow_run", "summarize"]
    for up, down in itertools.pairwise(order):
        assert down in dag.get_task(up).downstream_task_ids, f"{up} -> {down} missing"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_parsing_imports_nothing_heavy(dag_file):
    code = f"import runpy, sys; runpy.run_path(sys.argv[1]); print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code, str(dag_file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1:] in ([""], []), f"heavy modules imported: {out.stdout}"


def test_retrain_dag_wires_write_audit_publish_then_train_and_gate(dagbag):
    dag = dagbag.dags["retrain_pump_fleet"]
    edges = {t.task_id: t.downstream_task_ids for t in dag.tasks}
    for up, down in [
        ("ingest", "validate"),
        ("validate", "publish_data"),
        ("publish_data", "check_drift"),
        ("check_drift", "decide_training"),
        ("decide_training", "train"),
        ("decide_training", "skip_training"),
        ("train", "evaluate"),
        ("evaluate", "gate"),
        ("gate", "promote"),
        ("gate", "reject"),
        ("promote", "summarize"),
        ("reject", "summarize"),
        ("skip_training", "summarize"),
        ("ingest", "summarize"),  # a night with nothing to do skips straight there
    ]:
        assert down in edges[up], f"{up} -> {down} missing"
    assert dag.get_task("publish_data").pool == "lakefs_merge"
    assert dag.get_task("train").pool == "ray_training"
    assert dag.get_task("summarize").trigger_rule == "none_failed_min_one_success"
    assert {
        "force_retrain",
        "force_promote",
        "num_samples",
        "max_epochs",
        "gpus_per_trial",
        "drift_threshold",
        "ingest_only",
    } <= set(dag.params)
    assert dag.timetable.expression == "0 2 * * *"


def test_train_entrypoint_renders_the_commit_and_params():
    from jinja2 import Environment

    from include.retrain.jobs import submission

    class TI:
        @staticmethod
        def xcom_pull(task_ids):
            return {"publish_data": {"commit": "c0ffee"}, "train": {"result": {"run_id": "r1"}}}[task_ids]

    env = Environment()
    params = {"num_samples": 3, "max_epochs": None, "gpus_per_trial": 0.5, "train_label_noise": 0.0}
    cmd = env.from_string(submission.train_command("pump_fleet")).render(ti=TI, run_id="manual__x", params=params)
    assert cmd == (
        "python -m include.retrain.jobs.train --dataset pump_fleet --commit c0ffee "
        "--airflow-run-id 'manual__x' --num-samples 3 --gpus-per-trial 0.5"
    )
    ev = env.from_string(submission.evaluate_command("pump_fleet")).render(ti=TI, params=params)
    assert ev.endswith("--commit c0ffee --run-id r1")


def _parse_factory_with(tmp_path, datasets: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (given the DAG folder as argv[1]) on the DAG factory alone, parsing ``datasets``."""
    import shutil

    f = tmp_path / "datasets.yaml"
    f.write_text(datasets)
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "retrain_factory.py", dags)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RETRAIN_DATASETS_FILE": str(f)}
    out = subprocess.run([sys.executable, "-c", code, str(dags)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def test_a_bad_config_entry_becomes_a_failing_dag_and_spares_the_others(tmp_path):
    good = (ROOT / "include" / "datasets.yaml").read_text()
    bad = (
        good
        + "  - name: broken_line\n    modality: sensor\n    landing: {bucket: b, prefix: p}\n    gate: {floor: 2}\n"
    )
    code = (
        "import os, sys; from airflow.dag_processing.dagbag import DagBag; b = DagBag(sys.argv[1]); "
        "d = b.dags['retrain_broken_line']; print(sorted(b.dags)); print(b.import_errors); "
        "print(d.tags); print(d.doc_md)"
    )
    out = _parse_factory_with(tmp_path, bad, code)
    lines = out.stdout.splitlines()
    assert "['retrain_broken_line', 'retrain_cast_metal', 'retrain_pump_fleet']" in lines
    assert "{}" in lines
    assert "config-error" in out.stdout
    assert "entry 'broken_line'" in out.stdout
    assert "field 'gate.floor'" in out.stdout


def test_retrain_dags_publish_assets_for_data_and_model(dagbag):
    dag = dagbag.dags["retrain_pump_fleet"]
    assert [a.name for a in dag.get_task("publish_data").outlets] == ["lakefs/pump-fleet/main"]
    assert [a.name for a in dag.get_task("promote").outlets] == ["mlflow/models/pump_fleet/champion"]
    assert dag.get_task("reject").outlets == []


def test_linked_tasks_keep_their_extra_links_through_serialization(dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    from include.retrain import urls as L

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["retrain_cast_metal"]))
    expected = {
        "ingest": {L.LAKEFS_BRANCH, L.LAKEFS_DIFF},
        "validate": {L.LAKEFS_BRANCH, L.LAKEFS_DIFF, L.VALIDATION_REPORT},
        "publish_data": {L.LAKEFS_COMMIT},
        "train": {L.LAKEFS_COMMIT, L.MLFLOW_RUN},
        "evaluate": {L.MLFLOW_RUN},
        "promote": {L.MLFLOW_MODEL, L.LAKEFS_COMMIT, L.MODEL_CARD},
        "reject": {L.MLFLOW_MODEL, L.LAKEFS_COMMIT, L.MODEL_CARD},
        "summarize": set(),
    }
    assert {t: set(dag.get_task(t).extra_links) for t in expected} == expected


def test_retrain_dags_alert_past_their_configured_deadline(dagbag):
    from datetime import timedelta

    from include.retrain import config
    from tests.conftest import TEST_DEADLINE_MINUTES

    shipped = {ds.name: ds for ds in config.load(config.DEFAULT_PATH).datasets}
    for ds in config.load(config.Path(os.environ["RETRAIN_DATASETS_FILE"])).datasets:
        (alert,) = dagbag.dags[ds.dag_id].deadline
        assert alert.interval == timedelta(minutes=ds.deadline_minutes)
        default = (
            shipped[ds.name].deadline_minutes
            if ds.name in shipped
            else config.DatasetConfig.model_fields["deadline_minutes"].default
        )
        assert ds.deadline_minutes == TEST_DEADLINE_MINUTES.get(ds.name, default)
        assert alert.callback.path == "include.retrain.adapters.alerts.deadline_missed"
        assert alert.callback.kwargs == {"dataset": ds.name, "limit_minutes": ds.deadline_minutes}


def test_duplicate_and_invalid_names_become_error_dags_of_their_own_and_spare_the_real_ones(tmp_path):
    good = (ROOT / "include" / "datasets.yaml").read_text()
    pump = good[good.index("  - name: pump_fleet") : good.index("  - name: cast_metal")]
    bad = good + pump + pump.replace("name: pump_fleet", "name: pump fleet 2", 1)
    code = (
        "import json, sys; from airflow.dag_processing.dagbag import DagBag; b = DagBag(sys.argv[1]); "
        "print(json.dumps({'errors': {k: v[-300:] for k, v in b.import_errors.items()}, "
        "'dags': {i: sorted(d.tags) for i, d in b.dags.items()}}))"
    )
    out = _parse_factory_with(tmp_path, bad, code)
    got = __import__("json").loads(out.stdout.splitlines()[-1])
    assert got["errors"] == {}, got["errors"]  # one bad entry never takes the file down
    dags_found = got["dags"]
    assert "config-error" not in dags_found["retrain_pump_fleet"]  # the real DAG, not the duplicate's error DAG
    assert "config-error" not in dags_found["retrain_cast_metal"]
    errors = sorted(i for i, tags in dags_found.items() if "config-error" in tags)
    assert len(errors) == 2, dags_found  # the duplicate and the invalid name, each its own DAG
    assert all(__import__("re").fullmatch(r"[a-zA-Z0-9_.-]+", i) for i in errors), errors
