"""Great Expectations on real generated files: every planted defect gets its reason."""

import io
import threading
import time

import numpy as np
import pandas as pd
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


def _edge_files(ds) -> dict[str, bytes]:
    """Borderline shapes for the two suites: values exactly on a range's bounds (pass), -inf,
    a channel with a single value, an asset exactly one window long, a numeric label column."""
    (good,) = generate.sensor_partition(ds, "2026-11-01", assets=1, rows_per_segment=256)
    df = pd.read_parquet(io.BytesIO(good.body))
    low, high = ds.validation.ranges["temperature"]
    on_bounds = df.copy()
    on_bounds.loc[0, "temperature"], on_bounds.loc[1, "temperature"] = low, high
    minus_inf = df.copy()
    minus_inf.loc[5, "vibration_x"] = -np.inf
    one_value = df.copy()
    one_value["motor_current"] = np.nan
    one_value.loc[3, "motor_current"] = 1.0
    one_window = df.iloc[: ds.sensor.window].copy()
    short_by_one = df.iloc[: ds.sensor.window - 1].copy()
    numeric_labels = df.copy()
    numeric_labels["label"] = 0
    shapes = {
        "on-bounds": on_bounds,
        "minus-inf": minus_inf,
        "one-value": one_value,
        "one-window": one_window,
        "short-by-one": short_by_one,
        "numeric-labels": numeric_labels,
    }
    return {f"dt=2026-11-01/{name}.parquet": generate.to_parquet(frame) for name, frame in shapes.items()}


def _verdicts(ds, files: dict[str, bytes]) -> list[tuple[str, bool, bool]]:
    """(file, fails row by row, fails on its statistics) for every file that reaches GX."""
    from include.retrain.lake.formats import read_sensor_file
    from include.retrain.quality.report import GXRun

    run = GXRun("rows", lambda: sensor.expectations(ds))
    run.add_suite("statistics", lambda: sensor.statistics_expectations(ds))
    out = []
    for path, body in sorted(files.items()):
        try:
            df = read_sensor_file(path, body, ds.sensor)
        except ValueError:
            continue
        if sensor.structural_problems(df, ds.sensor):
            continue
        rows = run.validate(path, sensor._with_derived_columns(df, ds.sensor))
        stats = pd.DataFrame([sensor.file_statistics(df, ds.sensor)])
        out.append((path, bool(rows), bool(run.validate(f"{path}-statistics", stats, suite="statistics"))))
    return out


def test_a_file_fails_the_statistics_suite_exactly_when_a_row_fails_the_row_suite():
    ds = config.get("pump_fleet")
    files = generate.sensor_partition(ds, "2026-11-01", assets=2, rows_per_segment=256, bad=generate.BAD_SENSOR_KINDS)
    verdicts = _verdicts(ds, {**{f.key: f.body for f in files}, **_edge_files(ds)})
    failing = {path.rsplit("/", 1)[-1] for path, rows, _ in verdicts if rows}
    assert failing == {
        *(f"bad-{k}.parquet" for k in ("nan", "inf", "dead", "range", "label", "repeated", "short")),
        "minus-inf.parquet",
        "one-value.parquet",
        "short-by-one.parquet",
        "numeric-labels.parquet",
    }
    assert [(p, rows) for p, rows, _ in verdicts] == [(p, stats) for p, _, stats in verdicts]


def test_real_recordings_pass_or_fail_the_statistics_suite_as_they_do_row_by_row():
    """BasicMotions (sktime's copy of the UEA archive) as 6 watches' CSVs, with one reading
    pushed out of range and one watch's recording cut short."""
    from devstack.real_data import basic_motions_fleet, device_csvs

    ds = config.get("motions_fleet")
    files = device_csvs(basic_motions_fleet(6))
    first, second = sorted(files)[:2]
    table = pd.read_csv(io.BytesIO(files[first]))
    table.loc[7, "acc_x"] = 1e13
    files[first] = table.to_csv(index=False).encode()
    files[second] = pd.read_csv(io.BytesIO(files[second])).iloc[: ds.sensor.window - 1].to_csv(index=False).encode()
    verdicts = _verdicts(ds, files)
    assert len(verdicts) == 6
    assert {p for p, rows, _ in verdicts if rows} == {first, second}
    assert [(p, rows) for p, rows, _ in verdicts] == [(p, stats) for p, _, stats in verdicts]
    report = sensor.validate_sensor_files(ds, files)
    assert {f.path for f in report.bad} == {first, second}
    assert any("out of range: 'acc_x'" in r for r in {f.path: f for f in report.files}[first].reasons)


def test_large_files_are_parsed_a_few_at_a_time(monkeypatch):
    """The parse stage holds at most PARSE_AHEAD_BYTES of files (not PARSE_AHEAD files): with a
    budget of 1.5 files, real recordings (BasicMotions, 6 watches) are parsed one at a time."""
    from devstack.real_data import basic_motions_fleet, device_csvs

    ds = config.get("motions_fleet")
    files = device_csvs(basic_motions_fleet(6))
    budget = int(1.5 * min(len(b) for b in files.values()))
    monkeypatch.setattr(sensor, "PARSE_AHEAD_BYTES", budget, raising=False)
    lock, state = threading.Lock(), {"now": 0, "most": 0}
    examine = sensor.examine

    def counted(path, body, ds_):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            time.sleep(0.05)  # long enough for the other threads to start theirs
            return examine(path, body, ds_)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(sensor, "examine", counted)
    report = sensor.validate_sensor_files(ds, files)
    assert report.passed and len(report.files) == 6
    assert state["most"] == 1


def test_files_examined_elsewhere_are_judged_as_files_examined_here():
    """What a Ray job sends back (``Examined.as_dict`` through JSON) judges as the file itself."""
    import json

    from devstack.real_data import basic_motions_fleet, device_csvs

    ds = config.get("motions_fleet")
    files = device_csvs(basic_motions_fleet(4))
    table = pd.read_csv(io.BytesIO(files["watch-01.csv"]))
    table.loc[5, "acc_y"] = np.nan  # a gap: the statistics skip it, the null count names it
    files["watch-01.csv"] = table.to_csv(index=False).encode()
    files["watch-05.csv"] = files["watch-02.csv"][:300]  # cut mid-row
    here = sensor.validate_sensor_files(ds, files)
    sent = [json.loads(json.dumps(sensor.examine(p, b, ds).as_dict())) for p, b in files.items()]
    there = sensor.judge_sensor_files(ds, ((None, sensor.Examined.from_dict(d)) for d in sent), files.__getitem__)
    assert [(f.path, f.rows, f.reasons, f.notes) for f in there.files] == [
        (f.path, f.rows, f.reasons, f.notes) for f in here.files
    ]
    assert {f.path for f in there.bad} == {"watch-01.csv", "watch-05.csv"}


def test_a_batch_is_cut_into_chunks_of_about_equal_bytes_in_order():
    from include.retrain.jobs.file_statistics import chunks

    sizes = {f"f{i:02d}": s for i, s in enumerate([5, 5, 5, 5, 40, 5, 5, 5, 5, 5])}
    groups = chunks(sizes, parts=4)
    assert [p for g in groups for p in g] == list(sizes)  # every file once, in order
    assert ["f04"] in groups  # a file above a chunk's share is a chunk of its own
    assert all(sum(sizes[p] for p in g) <= 21 or len(g) == 1 for g in groups), groups
    assert len(chunks(sizes, parts=4, limit=10)) == 6  # the byte limit binds before the parts
    assert chunks({}, parts=4) == []
