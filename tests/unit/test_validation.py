"""Great Expectations on real generated files: every planted defect gets its reason."""

import pytest

from devstack import generate
from include.retrain import config
from include.retrain.quality import sensor

EXPECTED = {
    "nan": "null values in 'vibration_y' (10 rows)",
    "inf": "out of range: 'vibration_x' has 1 values outside [-60.0, 60.0]",
    "dead": "dead sensor: 'vibration_z' is constant",
    "range": "out of range: 'temperature' has 60 values outside [-20.0, 150.0]",
    "schema": "missing columns ['motor_current']",
    "label": "unknown labels ['cavitation'] in 300 rows",
    "truncated": "unreadable parquet file",
    "repeated": "rows repeat a timestamp of their asset with different values",
    "short": "too few rows: an asset has 64 rows, one window needs 128",
}


@pytest.fixture(scope="module")
def report():
    ds = config.get("pump_fleet")
    files = generate.sensor_partition(ds, "2026-11-01", assets=3, rows_per_segment=256, bad=generate.BAD_SENSOR_KINDS)
    return sensor.validate_sensor_files(ds, {f.key: f.body for f in files})


@pytest.mark.parametrize("kind", generate.BAD_SENSOR_KINDS)
def test_each_planted_defect_is_found_with_its_reason(report, kind):
    result = {f.path: f for f in report.files}[f"dt=2026-11-01/bad-{kind}.parquet"]
    assert not result.ok
    assert any(EXPECTED[kind] in r for r in result.reasons), result.reasons


def test_good_files_pass(report):
    good = [f for f in report.files if "bad-" not in f.path]
    assert len(good) == 3 and all(f.ok for f in good)


def test_too_many_bad_files_fail_the_batch_with_every_file_named(report):
    assert not report.passed
    msg = report.failure_message()
    assert "9/12 files bad" in msg and "exceeds max_bad_fraction 25%" in msg
    for kind in generate.BAD_SENSOR_KINDS:
        assert f"bad-{kind}.parquet" in msg


def test_gx_html_report_is_rendered(report):
    assert "index.html" in report.html_pages
    assert any(p.startswith("validations/") for p in report.html_pages)
    assert report.as_dict()["files_bad"] == 9


def test_under_tolerance_passes_and_nothing_valid_fails():
    ds = config.get("pump_fleet")
    files = generate.sensor_partition(ds, "2026-11-01", assets=4, rows_per_segment=256, bad=["nan"])
    assert sensor.validate_sensor_files(ds, {f.key: f.body for f in files}).passed  # 1/5 <= 25 %
    only_bad = generate.sensor_partition(ds, "2026-11-01", assets=0, bad=["dead"])
    rep = sensor.validate_sensor_files(ds, {f.key: f.body for f in only_bad})
    assert not rep.passed and "no valid file remains" in rep.failure_message()
