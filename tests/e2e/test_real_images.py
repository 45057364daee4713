"""Real images through the whole DAG: scikit-learn's handwritten digits (UCI) on the dataset
``digits``, whose entry gives only size, labels and a floor (tests/conftest.py). The night mixes
8-bit gray, 16-bit gray, RGBA and palette PNGs: every image is converted by the stated rule, said
in the report's notes, and the candidate is far above chance (0.1 for 10 classes).
"""

from __future__ import annotations

from devstack.real_data import digit_pngs
from include.retrain import config
from tests.e2e.conftest import real_data_candidate, run_date

DS = config.get("digits")


def test_mixed_pixel_formats_validate_with_notes_and_train_far_above_chance(stack, mlflow_client):
    date = "2026-09-10"
    s3 = stack.s3_client()
    files = digit_pngs(40, date)
    for key, body in files.items():
        s3.put_object(Bucket=DS.landing.bucket, Key=f"{DS.landing.prefix}/{key}", Body=body)
    run, summary = run_date(stack, DS, date, conf={"num_samples": 2, "max_epochs": 30})
    api = stack.airflow_api()
    validation = api.xcom(DS.dag_id, run["dag_run_id"], "validate")
    assert run["state"] == "success", validation
    assert validation["files_bad"] == 0 and validation["files_total"] == len(files) == 400
    notes = [n for f in validation["files"] for n in f["notes"]]
    assert notes.count("16-bit I;16 scaled to 8-bit gray (value / 257)") == 100
    assert notes.count("RGBA flattened onto white and converted to gray") == 100
    assert notes.count("P converted to gray") == 100
    real_data_candidate(mlflow_client, summary, "digits (400 of 1797, 4 pixel formats)", "image", chance=0.1)
