import re

import pytest

from include.retrain import config
from include.retrain.jobs import submission
from include.retrain.lake import lakefs_io

LAKEFS_BRANCH_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def test_run_branch_is_a_valid_lakefs_branch_id():
    name = lakefs_io.run_branch_name("retrain_pump_fleet", "scheduled__2026-11-01T00:00:00+00:00")
    assert LAKEFS_BRANCH_ID.match(name), name
    assert name.startswith("ingest-retrain_pump_fleet-scheduled__2026-11-01T00-00-00")


def test_run_branch_is_stable_and_distinct_per_run():
    a = lakefs_io.run_branch_name("d", "manual__1")
    assert a == lakefs_io.run_branch_name("d", "manual__1")
    assert a != lakefs_io.run_branch_name("d", "manual__2")


def test_repository_name_follows_the_contract():
    assert config.get("pump_fleet").repository == "pump-fleet"


def test_submission_id_is_deterministic_per_task_of_a_run():
    a = submission.submission_id("retrain_x", "manual__1", "train")
    assert a == submission.submission_id("retrain_x", "manual__1", "train")
    assert a != submission.submission_id("retrain_x", "manual__2", "train")
    assert a != submission.submission_id("retrain_x", "manual__1", "evaluate")
    # same task, new inputs (another commit in the rendered command): a new job, not a reused one
    cmd = "python -m include.retrain.jobs.train --commit "
    assert submission.submission_id("d", "r", "train", cmd + "c1") != submission.submission_id(
        "d", "r", "train", cmd + "c2"
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]+", a)


def test_parse_result_takes_the_last_result_line():
    logs = 'noise\nRETRAIN_RESULT {"a": 1}\nmore\nRETRAIN_RESULT {"a": 2}\ntrailing\n'
    assert submission.parse_result(logs) == {"a": 2}
    assert submission.parse_result("no result here") == {}


def test_runtime_env_ships_the_include_package():
    env = submission.runtime_env({"X": "1"})
    assert env["py_modules"][0].endswith("/include")
    assert env["env_vars"]["X"] == "1"


def test_task_links_build_each_ui_url_and_leave_out_unknown_targets():
    from include.retrain import urls as L

    common = dict(
        lakefs_url="http://lake:8000/",
        mlflow_url="http://mlf:5000",
        repository="pump-fleet",
        branch="ingest-retrain_x-manual__2026",
        report="_reports/retrain_x-manual__2026/validation.json",
    )
    job = {"result": {"run_id": "r1", "experiment_id": "7", "commit": "c0ffee"}}
    assert L.task_links((L.LAKEFS_COMMIT, L.MLFLOW_RUN), result=job, failed=False, **common) == {
        L.LAKEFS_COMMIT: "http://lake:8000/repositories/pump-fleet/commits/c0ffee",
        L.MLFLOW_RUN: "http://mlf:5000/#/experiments/7/runs/r1",
    }
    assert L.task_links((L.LAKEFS_BRANCH, L.LAKEFS_DIFF), result=None, failed=True, **common) == {
        L.LAKEFS_BRANCH: "http://lake:8000/repositories/pump-fleet/objects?ref=ingest-retrain_x-manual__2026",
        L.LAKEFS_DIFF: "http://lake:8000/repositories/pump-fleet/compare?ref=main&compare=ingest-retrain_x-manual__2026",
    }
    # a night with nothing to do deleted its run branch: the branch link shows main, no diff link
    shortcut = {"branch": common["branch"], "nothing_to_do": {"published": {"commit": "c0ffee"}}}
    assert L.task_links((L.LAKEFS_BRANCH, L.LAKEFS_DIFF), result=shortcut, failed=False, **common) == {
        L.LAKEFS_BRANCH: "http://lake:8000/repositories/pump-fleet/objects?ref=main",
    }
    report = "path=_reports%2Fretrain_x-manual__2026%2Fvalidation.json"
    assert L.task_links((L.VALIDATION_REPORT,), result=None, failed=True, **common)[L.VALIDATION_REPORT] == (
        f"http://lake:8000/repositories/pump-fleet/object?ref=ingest-retrain_x-manual__2026&{report}"
    )
    assert L.task_links((L.VALIDATION_REPORT,), result={}, failed=False, **common)[L.VALIDATION_REPORT].endswith(
        f"object?ref=main&{report}"
    )
    model = {"name": "pump fleet", "version": "3"}
    assert L.task_links((L.MLFLOW_MODEL, L.LAKEFS_COMMIT), result=model, failed=False, **common) == {
        L.MLFLOW_MODEL: "http://mlf:5000/#/models/pump%20fleet/versions/3"
    }  # no commit in the result: that link is left out, not broken
    with pytest.raises(ValueError, match="unknown link"):
        L.task_links(("Grafana",), result=None, failed=False, **common)
