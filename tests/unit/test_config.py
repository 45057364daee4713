import textwrap

import pytest

from include.retrain import config

GOOD = """
  - name: pump_fleet
    modality: sensor
    landing: {bucket: landing, prefix: pump_fleet}
    sensor: {channels: [a, b], labels: [normal, fault], window: 8, stride: 4}
    gate: {floor: 0.9}
"""


def _load(tmp_path, body: str) -> config.LoadedConfig:
    f = tmp_path / "datasets.yaml"
    f.write_text("datasets:" + textwrap.dedent(body))
    return config.load(f)


def test_the_shipped_config_is_valid():
    loaded = config.load()
    assert loaded.errors == {}
    ds = {d.name: d for d in loaded.datasets}["pump_fleet"]
    assert ds.dag_id == "retrain_pump_fleet"
    assert ds.repository == "pump-fleet"
    assert ds.experiment == "retrain/pump_fleet"
    assert ds.sensor and len(ds.sensor.channels) == 5


def test_defaults_fill_an_entry(tmp_path):
    ds = _load(tmp_path, GOOD).datasets[0]
    assert ds.tune.num_samples >= 1 and ds.gate.metric == "holdout_macro_f1"
    assert ds.tune.patience > 0 and ds.tune.class_weights == "balanced" and ds.split.unit == "auto"
    assert ds.landing.conn_id == "aws_landing"


def test_recall_floors_must_name_configured_labels(tmp_path):
    loaded = _load(tmp_path, GOOD + "    gate: {floor: 0.8, recall_floors: {cavitation: 0.5}}\n")
    assert "gate.recall_floors names unknown labels ['cavitation']" in next(iter(loaded.errors.values()))


def test_a_typo_names_the_entry_and_field(tmp_path):
    loaded = _load(tmp_path, GOOD + "    tune: {num_sampels: 3}\n")
    assert loaded.datasets == []
    assert loaded.errors["pump_fleet"] == (
        "datasets.yaml: entry 'pump_fleet': field 'tune.num_sampels': unknown field (typo?)"
    )


def test_one_bad_entry_leaves_the_others(tmp_path):
    bad = """
  - name: broken
    modality: sensor
    landing: {bucket: landing, prefix: broken}
    sensor: {channels: [a], labels: [x, y], window: 8, stride: 16}
    gate: {floor: 1.5}
"""
    loaded = _load(tmp_path, GOOD + bad)
    assert [d.name for d in loaded.datasets] == ["pump_fleet"]
    msg = loaded.errors["broken"]
    assert "entry 'broken'" in msg
    assert "field 'gate.floor'" in msg and "less than or equal to 1" in msg
    assert "stride (16) must not exceed window (8)" in msg


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("    schedule: every night\n", "field 'schedule': 'every night' is not a cron expression"),
        ("    validation: {ranges: {zz: [0, 1]}}\n", "validation.ranges names unknown channels ['zz']"),
        ("    validation: {ranges: {a: [5, 1]}}\n", "range of 'a' is [5.0, 1.0]: low must be below high"),
        ("    tune: {search_space: {lr: {normal: [0, 1]}}}\n", "tune.search_space.lr"),
        ("    tune: {search_space: {momentum: 0.9}}\n", "unknown hyperparameters ['momentum']"),
        ("    deadline_minutes: 0\n", "field 'deadline_minutes': Input should be greater than 0"),
        ("    max_active_runs: 0\n", "field 'max_active_runs': Input should be greater than or equal to 1"),
    ],
)
def test_field_errors_say_what_is_wrong(tmp_path, patch, expected):
    loaded = _load(tmp_path, GOOD + patch)
    assert expected in loaded.errors["pump_fleet"]


def test_sensor_modality_needs_its_block(tmp_path):
    body = "\n  - name: x1\n    modality: sensor\n    landing: {bucket: b, prefix: p}\n    gate: {floor: 0.5}\n"
    assert "needs a 'sensor' block" in _load(tmp_path, body).errors["x1"]


def test_duplicate_names_are_refused(tmp_path):
    loaded = _load(tmp_path, GOOD + GOOD)
    assert len(loaded.datasets) == 1
    assert "duplicate" in loaded.errors["pump_fleet"]


def test_get_explains_unknown_and_invalid_entries(tmp_path):
    f = tmp_path / "datasets.yaml"
    f.write_text("datasets:" + GOOD)
    with pytest.raises(config.ConfigError, match="no dataset 'nope' \\(valid entries: pump_fleet\\)"):
        config.get("nope", f)


def test_not_a_list_is_a_clear_error(tmp_path):
    f = tmp_path / "datasets.yaml"
    f.write_text("datasets: {name: x}\n")
    with pytest.raises(config.ConfigError, match="'datasets' must be a list"):
        config.load(f)


def test_logical_date_of_a_partition_is_its_first_cron_time():
    from devstack import nightly

    ds = config.get("pump_fleet")  # "0 2 * * *"
    assert nightly.logical_date(ds, "2026-11-01") == "2026-11-01T02:00:00+00:00"
    assert nightly.default_dates(3, today=__import__("datetime").date(2026, 11, 24)) == [
        "2026-11-21",
        "2026-11-22",
        "2026-11-23",
    ]
