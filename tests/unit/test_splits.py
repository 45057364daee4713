"""Splits for any fleet, on real recordings: BasicMotions (sktime) as 1, 6 and 80 devices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from devstack.real_data import BASIC_MOTIONS_CHANNELS, basic_motions_fleet
from include.retrain import config
from include.retrain.ml import features, splits, training

pytestmark = pytest.mark.unit
BASE = config.get("pump_fleet")


def _motions(devices: int) -> tuple[config.DatasetConfig, pd.DataFrame]:
    table = basic_motions_fleet(devices)
    spec = BASE.sensor.model_copy(
        update={"channels": BASIC_MOTIONS_CHANNELS, "labels": sorted(table.label.unique()), "window": 50, "stride": 25}
    )
    return BASE.model_copy(update={"name": "motions", "sensor": spec}), table


def _split(ds: config.DatasetConfig, table: pd.DataFrame, plan: splits.SplitPlan) -> dict[str, features.Samples]:
    block = plan.block_seconds if plan.unit == "time" else None
    return features.split(features.sensor_windows(table, ds.sensor, block))


@pytest.mark.parametrize("devices", [1, 6])
def test_a_small_fleet_is_split_by_time_with_every_class_in_every_split(devices):
    ds, table = _motions(devices)
    plan = splits.decide_sensor_plan(ds, table, "c0")
    assert plan.unit == "time" and plan.block_seconds and plan.block_seconds >= 4 * 5  # 4 windows of 5 s
    parts = _split(ds, table, plan)
    splits.check_coverage(ds, plan, features.class_counts(parts, ds.labels))  # raises if a class misses a split
    # leak-free: no unit (machine x block) in two splits, and no window straddles a block edge
    units = [set(parts[s].keys) for s in splits.SPLITS]
    assert not (units[0] & units[1]) and not (units[0] & units[2]) and not (units[1] & units[2])
    assert min(len(parts[s]) for s in splits.SPLITS) > 0


def test_a_fleet_with_enough_machines_per_class_holds_whole_machines_out():
    ds, table = _motions(80)  # every recording a device of its own: 20 per class
    plan = splits.decide_sensor_plan(ds, table, "c0")
    assert plan.unit == "asset"
    parts = _split(ds, table, plan)
    assert all(k.startswith("watch-") and "|" not in k for k in parts["holdout"].keys)


def test_ten_thousand_assets_split_by_asset():
    n = 10_000
    table = pd.DataFrame(
        {
            "asset_id": np.repeat([f"m{i:05d}" for i in range(n)], 2),
            "timestamp": pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.tile([0, 1], n), unit="s"),
            "a": 0.0,
            "label": np.repeat(np.where(np.arange(n) % 2, "fault", "normal"), 2),
        }
    )
    spec = config.SensorSpec(channels=["a"], labels=["normal", "fault"], window=2, stride=1)
    ds = BASE.model_copy(update={"sensor": spec})
    assert splits.decide_sensor_plan(ds, table, "c0").unit == "asset"


def test_a_sample_keeps_its_split_as_data_grows():
    ds, day1 = _motions(6)
    plan = splits.decide_sensor_plan(ds, day1, "c0")
    day2 = basic_motions_fleet(6, seed=1, start=pd.Timestamp("2026-11-02T08:00", tz="UTC").to_pydatetime())
    before = _split(ds, day1, plan)
    after = _split(ds, pd.concat([day1, day2], ignore_index=True), plan)
    for s in splits.SPLITS:
        old = set(before[s].keys)
        assert old <= set(after[s].keys), f"{s} lost units of the first day"
        assert len(after[s]) >= len(before[s])


def test_the_plan_counts_only_the_windows_training_keeps():
    """Every watch's gyroscope dead for the first third of its day: with ``constant_channel:
    window`` (a user's default) training leaves those windows out, so the plan must find a block
    length that puts every class in every split with the rest (counting every row it chose 30 s
    blocks, and training then had no 'standing' in the holdout)."""
    ds, table = _motions(4)
    ds = ds.model_copy(update={"validation": ds.validation.model_copy(update={"constant_channel": "window"})})
    for rows in table.groupby("asset_id").groups.values():
        table.loc[rows[: len(rows) // 3], ["gyr_x", "gyr_y", "gyr_z"]] = 0.0
    plan = splits.decide_sensor_plan(ds, table, "c0")
    parts = _split(ds, table, plan)
    kept = {s: p.subset(~features.flat_windows(p.x, ds.validation.min_channel_std)) for s, p in parts.items()}
    assert sum(map(len, kept.values())) < sum(map(len, parts.values()))
    splits.check_coverage(ds, plan, features.class_counts(kept, ds.labels))  # raises if a class misses a split
    assert plan.reason.endswith("2600 of 8000 rows lie in stretches with a flat channel and were not counted")
    keep = ds.model_copy(update={"validation": ds.validation.model_copy(update={"constant_channel": "keep"})})
    assert "not counted" not in splits.decide_sensor_plan(keep, table, "c0").reason  # flat windows are trained on


def test_windows_never_cross_a_gap():
    spec = config.SensorSpec(channels=["a"], labels=["normal", "fault"], window=4, stride=4, max_gap=3.0)
    ts = pd.to_datetime([0, 1, 2, 3, 4, 5, 50, 51, 52, 53], unit="s", utc=True)  # a 45 s pause after row 5
    table = pd.DataFrame({"asset_id": "m1", "timestamp": ts, "a": np.arange(10.0), "label": "normal"})
    w = features.sensor_windows(table, spec)
    assert [list(x[0]) for x in w.x] == [[0, 1, 2, 3], [6, 7, 8, 9]]


def test_a_class_on_too_few_units_is_a_clear_error_with_the_counts():
    ds, table = _motions(1)
    plan = splits.SplitPlan("time", 600.0, "test")  # 10 min blocks: 2 units for 13 minutes of data
    parts = _split(ds, table, plan)
    with pytest.raises(splits.SplitUnfit) as err:
        splits.check_coverage(ds, plan, features.class_counts(parts, ds.labels))
    message = str(err.value)
    assert message.startswith("dataset 'motions': split by machine and time block of 10 min")
    assert "no val samples of '" in message or "no holdout samples of '" in message
    assert "Samples per class (train/val/holdout): badminton " in message and "Nothing was trained" in message


def test_a_configured_class_without_samples_is_named():
    ds, table = _motions(80)
    spec = ds.sensor.model_copy(update={"labels": [*ds.labels, "swimming"]})
    ds = ds.model_copy(update={"sensor": spec})
    plan = splits.decide_sensor_plan(ds, table, "c0")
    with pytest.raises(splits.SplitUnfit, match="no samples of 'swimming' at all"):
        splits.check_coverage(ds, plan, features.class_counts(_split(ds, table, plan), ds.labels))


def test_the_plan_survives_its_record():
    plan = splits.SplitPlan("time", 1800.0, "why", "abc")
    assert splits.SplitPlan.from_json(plan.to_json()) == plan
    assert plan.describe() == "by machine and time block of 30 min"


def test_balanced_class_weights_and_early_stopping():
    y = np.array([0] * 90 + [1] * 5 + [2] * 5)
    w = training.class_weights(y, 4, "balanced")
    assert w is not None and w.tolist() == pytest.approx([100 / (3 * 90), 100 / 15, 100 / 15, 0.0])
    assert training.class_weights(y, 4, "none") is None
    plateau = training.Plateau(2)
    assert [plateau.update(v) for v in (0.5, 0.7, 0.7, 0.6)] == [False, False, False, True]
    assert not any(training.Plateau(0).update(0.1) for _ in range(10))


def test_split_unit_time_without_a_block_length_decides_only_the_block():
    ds, table = _motions(80)  # auto would hold whole watches out
    timed = ds.model_copy(update={"split": config.Split(unit="time")})
    assert splits.configured_plan(timed) is None
    plan = splits.decide_sensor_plan(timed, table, "c0")
    assert plan.unit == "time" and plan.block_seconds


def _files(table: pd.DataFrame, pieces: int) -> list[pd.DataFrame]:
    """The table as a logger's export: per device, cut into ``pieces`` files, in shuffled order."""
    files = [
        rows.iloc[cut] for _, rows in table.groupby("asset_id") for cut in np.array_split(np.arange(len(rows)), pieces)
    ]
    order = np.random.default_rng(0).permutation(len(files))
    return [files[i].reset_index(drop=True) for i in order]


@pytest.mark.parametrize("devices", [4, 6, 80])
def test_the_holdout_read_file_by_file_is_the_holdout_of_the_whole_table(devices):
    ds, table = _motions(devices)
    plan = splits.decide_sensor_plan(ds, table, "c0")
    assert plan.unit == ("asset" if devices == 80 else "time")
    block = plan.block_seconds if plan.unit == "time" else None
    whole = _split(ds, table, plan)["holdout"]
    streamed = features.windows_of_rows(
        [features.wanted_rows(_files(table, 5), ds.sensor, block, {"holdout"})], ds.sensor, block
    )
    assert len(whole) > 0
    np.testing.assert_array_equal(streamed.x, whole.x)
    np.testing.assert_array_equal(streamed.y, whole.y)
    assert list(streamed.keys) == list(whole.keys)


def test_a_machine_s_median_interval_counts_all_its_rows_when_the_holdout_is_read_alone():
    """A logger that samples at 1 Hz in the held-out blocks and at 10 Hz elsewhere: by the whole
    machine's median interval (0.1 s) the 1 Hz rows are gaps, so the holdout has no window; the
    held-out rows alone (median 1 s) would make windows the whole table does not have."""
    spec = config.SensorSpec(channels=["a"], labels=["normal", "fault"], window=4, stride=4, max_gap=3.0)
    frames = []
    for block in range(40):
        start = block * 60
        held_out = splits.split_of(f"m1|{start * 10**9}") == "holdout"
        step = 1.0 if held_out else 0.1
        ts = start + np.arange(0, 60, step)
        frames.append(
            pd.DataFrame(
                {
                    "asset_id": "m1",
                    "timestamp": pd.to_datetime(ts, unit="s", utc=True),
                    "a": np.sin(ts),
                    "label": "normal",
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    whole = features.split(features.sensor_windows(table, spec, 60.0))["holdout"]
    assert len(whole) == 0
    alone = features.sensor_windows(table[features.rows_in(table, spec, 60.0, {"holdout"})], spec, 60.0)
    assert len(alone) > 0  # what reading the holdout alone would make without the whole machine's median
    streamed = features.windows_of_rows([features.wanted_rows(_files(table, 8), spec, 60.0, {"holdout"})], spec, 60.0)
    assert len(streamed) == 0
