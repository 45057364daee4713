"""The image dataset through the same pipeline: quarantine of bad pictures, champion, rerun."""

from __future__ import annotations

import json

import pytest

from devstack import generate, nightly
from include.retrain.lake import lakefs_io
from tests.e2e.conftest import CAST, CAST_DATES, assert_lineage, champion_of, main_head, repository, run_date

DATES, DS = CAST_DATES, CAST
EXPECTED = {
    "ok/bad-corrupt.png": "image does not decode",
    "ok/bad-truncated.png": "image does not decode",
    "ok/bad-blank.png": "blank image",
    "ok/bad-overexposed.png": "over-exposed",
    "ok/bad-blurred.png": "blurred (variance of the Laplacian",
    "ok/bad-oversized.png": "size 128x128, expected 64x64",
    "ok/bad-format.bmp": "not an image file",
    "ok/ok-0000_copy.png": "exact duplicate of dt=2026-11-04/ok/ok-0000.png",
    "dent/bad-misfiled.png": "label folder 'dent' is not one of ok, scratch, spot, crack",
}


@pytest.fixture(scope="module")
def repo(clt):
    return repository(clt, DS)


@pytest.fixture(scope="module")
def three_nights(cast_nights):
    return cast_nights


def test_three_nights_give_an_accurate_image_champion(three_nights, repo, mlflow_client):
    assert all(s["validation"]["passed"] and s["validation"]["files_total"] == 120 for s in three_nights)
    version = champion_of(mlflow_client, DS)
    run = mlflow_client.get_run(version.run_id)
    assert run.data.metrics["holdout_accuracy"] >= 0.9
    assert {f"holdout_recall_{label}" for label in DS.labels} <= set(run.data.metrics)
    assert "evaluation/confusion_matrix.png" in [
        a.path for a in mlflow_client.list_artifacts(run.info.run_id, "evaluation")
    ]
    assert_lineage(three_nights, DS, repo, mlflow_client)


def test_every_planted_bad_image_is_quarantined_and_never_reaches_main(stack, three_nights, clt, repo):
    date = "2026-11-04"
    nightly.seed(stack, DS, date, per_class=10, bad=generate.BAD_IMAGE_KINDS)
    run, summary = run_date(stack, DS, date)
    assert run["state"] == "success"  # 9 bad of 49 is under max_bad_fraction
    v = summary["validation"]
    assert v["passed"] and v["files_total"] == 49 and v["files_bad"] == 9
    report = json.loads(lakefs_io.read_bytes(clt, DS.repository, summary["commit"], v["report"]))
    reasons = {f["path"].removeprefix(f"dt={date}/"): f["reasons"] for f in report["files"] if not f["ok"]}
    assert set(reasons) == set(EXPECTED)
    for path, expected in EXPECTED.items():
        assert any(r.startswith(expected) for r in reasons[path]), (path, reasons[path])
    on_main = {p for p, _, _ in lakefs_io.list_paths(clt, DS.repository, "main", f"data/dt={date}/")}
    assert len(on_main) == 40
    assert not {f"data/dt={date}/{p}" for p in EXPECTED} & on_main
    assert any(
        p.startswith("_reports/")
        for p, _, _ in lakefs_io.list_paths(clt, DS.repository, "main", "_reports/")
        if "gx/" in p
    )


def test_rerun_of_an_image_date_changes_nothing(stack, three_nights, repo, mlflow_client):
    head = main_head(repo)
    versions = len(mlflow_client.search_model_versions(f"name='{DS.model_name}'"))
    run, summary = run_date(stack, DS, DATES[-1])
    assert run["state"] == "success" and summary["new_data"] is False and summary["training"]["skipped"]
    assert main_head(repo) == head
    assert len(mlflow_client.search_model_versions(f"name='{DS.model_name}'")) == versions
