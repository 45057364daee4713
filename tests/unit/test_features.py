import numpy as np
import pandas as pd

from devstack import generate
from include.retrain import config
from include.retrain.ml import features


def _spec():
    return config.SensorSpec(channels=["a", "b"], labels=["normal", "fault"], window=4, stride=2)


def _table(asset: str, labels: list[str], start: str = "2026-11-01") -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            "asset_id": asset,
            "timestamp": pd.date_range(start, periods=n, freq="ms", tz="UTC"),
            "a": np.arange(n, dtype=float),
            "b": np.arange(n, dtype=float) * 10,
            "label": labels,
        }
    )


def test_windows_never_cross_a_label_change_or_an_asset():
    df = pd.concat([_table("m1", ["normal"] * 6 + ["fault"] * 5), _table("m2", ["fault"] * 4)])
    w = features.sensor_windows(df.sample(frac=1, random_state=1), _spec())  # order must not matter
    # m1 normal: starts 0,2 ; m1 fault (rows 6..10): starts 6 ; m2: start 0
    assert len(w) == 4
    assert w.x.shape == (4, 2, 4)
    assert list(w.y) == [0, 0, 1, 1]
    assert list(w.keys) == ["m1", "m1", "m1", "m2"]
    np.testing.assert_array_equal(w.x[2, 0], [6, 7, 8, 9])  # consecutive rows of the fault run
    np.testing.assert_array_equal(w.x[2, 1], [60, 70, 80, 90])


def test_split_is_stable_and_roughly_70_15_15():
    keys = [f"pump-{i:03d}" for i in range(2000)]
    first = [features.split_of(k) for k in keys]
    assert first == [features.split_of(k) for k in keys]
    share = {s: first.count(s) / len(keys) for s in features.SPLITS}
    assert abs(share["train"] - 0.70) < 0.04 and abs(share["holdout"] - 0.15) < 0.03


def test_split_keeps_every_window_of_an_asset_together():
    df = pd.concat([_table(f"m{i}", ["normal"] * 8) for i in range(30)])
    parts = features.split(features.sensor_windows(df, _spec()))
    owners = [set(p.keys) for p in parts.values()]
    assert sum(len(o) for o in owners) == 30
    assert not (owners[0] & owners[1]) and not (owners[0] & owners[2]) and not (owners[1] & owners[2])


def test_channel_stats_are_fitted_per_channel():
    x = np.stack([np.ones((2, 5)), np.zeros((2, 5))]).astype(np.float32)
    x[:, 1] = 7.0
    mean, std = features.channel_stats(x)
    assert mean.tolist() == [0.5, 7.0]
    assert std.tolist() == [0.5, 1.0]  # a constant channel gets std 1, never a division by 0


def test_generated_day_is_balanced_and_windowable():
    ds = config.get("pump_fleet")
    df = generate.sensor_frame(ds.sensor, ds.name, "2026-11-01", "pump-001", rows_per_segment=256)
    assert list(df.columns) == ["asset_id", "timestamp", *ds.sensor.channels, "label"]
    assert df["label"].value_counts().to_dict() == dict.fromkeys(ds.sensor.labels, 256)
    assert df["timestamp"].is_monotonic_increasing
    w = features.sensor_windows(df, ds.sensor)
    assert len(w) == 4 * ((256 - 128) // 64 + 1)


def test_generator_is_deterministic_and_dates_differ():
    ds = config.get("pump_fleet")
    a = generate.sensor_partition(ds, "2026-11-01", assets=2)
    assert [f.body for f in a] == [f.body for f in generate.sensor_partition(ds, "2026-11-01", assets=2)]
    assert a[0].body != generate.sensor_partition(ds, "2026-11-02", assets=2)[0].body


def test_fault_signatures_are_physical():
    ds = config.get("pump_fleet")
    df = generate.sensor_frame(ds.sensor, ds.name, "2026-11-01", "pump-001", rows_per_segment=1024)
    rms = df.groupby("label")[["vibration_x", "vibration_z"]].std()
    assert rms.loc["imbalance", "vibration_x"] > 2 * rms.loc["normal", "vibration_x"]  # 1x radial
    assert rms.loc["misalignment", "vibration_z"] > 2 * rms.loc["normal", "vibration_z"]  # 2x axial
    temp = df.groupby("label")["temperature"].mean()
    assert temp["bearing_fault"] > temp["normal"] + 5  # a warm bearing


def test_label_noise_moves_a_seeded_fraction_to_the_next_class():
    import numpy as np

    from include.retrain.ml.training import noisy_labels

    y = np.zeros(1000, dtype=np.int64)
    noisy = noisy_labels(y, 0.3, 4, seed=7)
    assert set(np.unique(noisy)) == {0, 1} and 250 < int(noisy.sum()) < 350
    assert (noisy_labels(y, 0.3, 4, seed=7) == noisy).all() and (y == 0).all()  # seeded, input untouched
    assert (noisy_labels(y, 0.0, 4, seed=7) == y).all()


def test_a_trial_trains_on_its_gpu_when_cuda_is_there_and_says_so_when_it_falls_back(caplog):
    from include.retrain.ml import training

    assert training.pick_device([0], cuda_available=True) == "cuda"
    assert training.pick_device([], cuda_available=True) == "cpu"  # no GPU asked for
    assert training.pick_device([0], cuda_available=False) == "cpu"  # a logical GPU without CUDA
    assert "training on the CPU" in caplog.text


def test_mixed_precision_is_ignored_on_the_cpu_and_the_loop_still_learns():
    from include.retrain.ml import training

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (64, 2, 8)).astype(np.float32)
    y = (x[:, 0].mean(axis=1) > 0).astype(np.int64)
    hp = {"lr": 1e-2, "width": 8, "depth": 1, "dropout": 0.0, "batch_size": 16, "seed": 0}
    mean, std = np.zeros(2, np.float32), np.ones(2, np.float32)
    model, opt = training.new_model(hp, x, 2, mean, std)
    reports = list(training.epochs(model, opt, (x, y), (x, y), ["a", "b"], hp, {}, 0, 5, "cpu", True))
    assert reports[-1]["train_loss"] < reports[0]["train_loss"]


def test_make_run_sample_data_has_more_healthy_data_and_faults_of_every_severity():
    from devstack.nightly import MAKE_RUN_SAMPLE_DATA

    ds = config.get("pump_fleet")
    realism = MAKE_RUN_SAMPLE_DATA["sensor"]
    frames = [
        generate.sensor_frame(ds.sensor, ds.name, "2026-11-01", f"pump-{i:03d}", rows_per_segment=256, **realism)
        for i in range(12)
    ]
    counts = frames[0]["label"].value_counts()
    assert counts["normal"] == 3 * counts["imbalance"] == 3 * 256
    # the 1x running-speed amplitude of the imbalance segments varies from machine to machine
    amplitude = [
        f.loc[f.label == "imbalance", "vibration_x"].std() / f.loc[f.label == "normal", "vibration_x"].std()
        for f in frames
    ]
    assert min(amplitude) < 1.5 < 3.0 < max(amplitude), amplitude
