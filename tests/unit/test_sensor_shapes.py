"""Sensor files as real exporters write them: each shape is read the same way by validation,
drift and training (``lake.formats.read_sensor_file``), and passes or fails with a clear reason."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from devstack import generate
from include.retrain import config
from include.retrain.lake import formats
from include.retrain.lake.ingest import ignored_by
from include.retrain.quality import sensor

DS = config.get("pump_fleet")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _frame() -> pd.DataFrame:
    (good,) = generate.sensor_partition(DS, "2026-11-01", assets=1, rows_per_segment=256)
    return pd.read_parquet(io.BytesIO(good.body))


def _validate(files: dict[str, bytes]):
    return {f.path: f for f in sensor.validate_sensor_files(DS, files).files}


def test_isoformat_timestamps_with_fractional_seconds_only_when_non_zero_all_parse():
    stamps = [(T0 + timedelta(milliseconds=250 * i)).isoformat() for i in range(8)]
    assert stamps[0] == "2026-11-01T00:00:00+00:00" and stamps[1] == "2026-11-01T00:00:00.250000+00:00"
    parsed = formats.parse_timestamps(pd.Series(stamps))
    assert parsed.tolist() == [pd.Timestamp(T0 + timedelta(milliseconds=250 * i)) for i in range(8)]


def test_iso_8601_forms_mixed_in_one_column_mean_the_same_instants():
    forms = [
        "2026-11-01T01:00:00+01:00",
        "2026-11-01T00:00:00Z",
        "2026-11-01 00:00:00",
        "2026-11-01T00:00:00.000000000",
        "2026-11-01T00:00",
    ]
    assert set(formats.parse_timestamps(pd.Series(forms))) == {pd.Timestamp(T0)}


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000, 1_000_000_000])
def test_epoch_numbers_in_any_unit_are_read_by_their_magnitude(scale):
    seconds = T0.timestamp()
    ints = formats.parse_timestamps(pd.Series([int(seconds * scale), int((seconds + 2) * scale)]))
    floats = formats.parse_timestamps(pd.Series([seconds * scale, (seconds + 0.5) * scale]))
    assert ints.tolist() == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(seconds=2))]
    assert floats.tolist() == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(seconds=0.5))]


def test_text_that_is_not_a_timestamp_is_refused_with_a_count():
    df = _frame()
    df["timestamp"] = df["timestamp"].astype(str)
    df.loc[:9, "timestamp"] = "yesterday"
    result = _validate({"dt=2026-11-01/words.csv": df.to_csv(index=False).encode()})["dt=2026-11-01/words.csv"]
    assert result.reasons == ["10 timestamps do not parse"]


def test_a_csv_of_isoformat_timestamps_validates():
    df = _frame()
    df["timestamp"] = [t.isoformat() for t in df["timestamp"].dt.to_pydatetime()]
    result = _validate({"dt=2026-11-01/iso.csv": df.to_csv(index=False).encode()})["dt=2026-11-01/iso.csv"]
    assert result.ok, result.reasons


@pytest.mark.parametrize("dtype", ["int16", "int8", "uint16", "float32", "Int64", "Float32"])
def test_channels_of_any_integer_or_float_dtype_validate(dtype):
    df = _frame()
    for ch in DS.sensor.channels:
        df[ch] = df[ch].round().clip(lower=0 if dtype.startswith("u") else None).astype(dtype)
    result = _validate({"dt=2026-11-01/typed.parquet": df.to_parquet(index=False)})["dt=2026-11-01/typed.parquet"]
    assert result.ok, result.reasons
    read = formats.read_sensor_file("typed.parquet", df.to_parquet(index=False), DS.sensor)
    assert all(read[ch].dtype == "float64" for ch in DS.sensor.channels)


def test_unsorted_rows_are_sorted_and_exact_duplicates_dropped_and_both_are_said():
    df = _frame()
    messy = pd.concat([df, df.iloc[100:150]]).sample(frac=1.0, random_state=0)
    result = _validate({"dt=2026-11-01/messy.parquet": messy.to_parquet(index=False)})["dt=2026-11-01/messy.parquet"]
    assert result.ok, result.reasons
    assert result.rows == len(df)
    assert result.notes == ["rows sorted by asset and timestamp", "50 exact duplicate rows dropped"]
    read = formats.read_sensor_file("messy.parquet", messy.to_parquet(index=False), DS.sensor)
    assert read["timestamp"].is_monotonic_increasing and len(read) == len(df)


def test_a_timestamp_repeated_with_different_values_makes_the_file_bad():
    df = _frame()
    df.loc[1::2, "timestamp"] = df["timestamp"].shift(1)[1::2]  # a clock of half the sample rate
    result = _validate({"dt=2026-11-01/clock.parquet": df.to_parquet(index=False)})["dt=2026-11-01/clock.parquet"]
    assert any(
        r.startswith(f"{len(df) // 2} rows repeat a timestamp of their asset with different values")
        for r in result.reasons
    ), result.reasons


@pytest.mark.parametrize(
    ("key", "ignored"),
    [
        ("pump/dt=2026-11-01/_SUCCESS", True),
        ("pump/dt=2026-11-01/.part-00000.parquet.crc", True),
        ("pump/dt=2026-11-01/_committed_6743", True),
        ("pump/dt=2026-11-01/_started_6743", True),
        ("pump/dt=2026-11-01/_temporary/0/part-00000.parquet", True),
        ("pump/dt=2026-11-01/.hidden.parquet", True),
        ("pump/dt=2026-11-01/part-00000-tid-1.snappy.parquet", False),
        ("pump/dt=2026-11-01/pump-01.csv", False),
        ("pump/dt=2026-11-01/success.parquet", False),
    ],
)
def test_export_markers_and_sidecars_are_ignored_by_the_default_patterns(key, ignored):
    assert ignored_by(key, "pump/dt=2026-11-01/", config.DEFAULT_LANDING_IGNORE) is ignored


def test_a_real_recording_exported_with_isoformat_timestamps_validates_and_windows():
    """BasicMotions (UEA archive, shipped inside sktime): 80 real 10 s recordings of a smartwatch's
    accelerometer and gyroscope at 10 Hz, 4 activities. Exported as a user's logger writes it:
    CSV, one file per 20 recordings, each recording an asset, timestamps from isoformat()."""
    from sktime.datasets import load_basic_motions

    from include.retrain.ml import features

    x, y = load_basic_motions(return_type="pd-multiindex")
    channels = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
    x.columns = channels
    spec = DS.sensor.model_copy(update={"channels": channels, "labels": sorted(set(y)), "window": 50, "stride": 25})
    ds = DS.model_copy(update={"sensor": spec, "validation": DS.validation.model_copy(update={"ranges": {}})})
    cases = x.index.get_level_values(0)
    steps = x.index.get_level_values(1)
    table = x.reset_index(drop=True).assign(
        asset_id=[f"watch-{c:02d}" for c in cases],
        timestamp=[(T0 + timedelta(seconds=c * 60 + s / 10)).isoformat() for c, s in zip(cases, steps, strict=True)],
        label=[y[c] for c in cases],
    )
    files = {f"dt=2026-11-01/part-{i}.csv": table[(cases // 20) == i].to_csv(index=False).encode() for i in range(4)}
    report = sensor.validate_sensor_files(ds, files)
    assert report.passed and not report.bad, [(f.path, f.reasons) for f in report.bad]
    frames = [formats.read_sensor_file(p, b, spec) for p, b in files.items()]
    windows = features.sensor_windows(pd.concat(frames, ignore_index=True), spec)
    assert len(windows.y) == 80 * 3  # 100 samples, window 50, stride 25: 3 windows a recording
    assert sorted(set(windows.y.tolist())) == [0, 1, 2, 3]


def test_a_channel_flat_over_a_file_is_judged_per_window_by_default():
    """A watch whose gyroscope z-axis reads a constant (BasicMotions, sktime, with gyr_z set flat in
    half of the recordings): by default the file validates with a note and only the windows where
    the channel is flat are left out; ``constant_channel: file`` refuses the file as a dead sensor."""
    from devstack.real_data import BASIC_MOTIONS_CHANNELS, basic_motions_fleet, device_csvs
    from include.retrain.ml import features

    table = basic_motions_fleet(1)
    flat_rows = table.index < len(table) // 2
    table.loc[flat_rows, "gyr_z"] = 0.25
    spec = DS.sensor.model_copy(
        update={"channels": BASIC_MOTIONS_CHANNELS, "labels": sorted(table.label.unique()), "window": 50, "stride": 25}
    )
    lenient = config.Validation()  # the defaults a user's entry gets
    assert lenient.constant_channel == "window"
    ds = DS.model_copy(update={"sensor": spec, "validation": lenient})
    files = device_csvs(table.loc[flat_rows])  # the flat half as its own file
    (verdict,) = sensor.validate_sensor_files(ds, files).files
    assert verdict.ok and any(n.startswith("channel 'gyr_z' is constant over the file") for n in verdict.notes)
    windows = features.sensor_windows(table, spec)
    flat = features.flat_windows(windows.x, lenient.min_channel_std)
    assert 0 < flat.sum() < len(flat)  # the flat half's windows only
    strict = ds.model_copy(update={"validation": lenient.model_copy(update={"constant_channel": "file"})})
    (verdict,) = sensor.validate_sensor_files(strict, files).files
    assert verdict.reasons == ["dead sensor: 'gyr_z' is constant (std 0 < 0.0001)"]
