"""``tune.train_budget_mb``: what a search trains on when the training split is larger.

On real scans: scikit-learn's handwritten digits (1797 8x8 images, 10 classes, 256 bytes each as
float32), shipped inside the scikit-learn package.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from include.retrain.ml import training

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.images[:, None].astype(np.float32), d.target.astype(np.int64)


def test_a_split_within_the_budget_is_trained_on_whole(digits):
    x, y = digits
    keep = training.within_budget(y, int(x[0].nbytes), x.nbytes / 2**20, seed=0)
    assert np.array_equal(keep, np.arange(len(y)))


def test_over_the_budget_each_class_keeps_its_share_and_the_sample_is_seeded(digits):
    x, y = digits
    budget_mb = 900 * x[0].nbytes / 2**20  # room for 900 of the 1797 scans
    keep = training.within_budget(y, int(x[0].nbytes), budget_mb, seed=7)
    assert len(keep) == 900 and len(set(keep)) == 900
    assert np.all(np.diff(keep) > 0)  # in the split's order
    expected = np.bincount(y) * 900 / len(y)
    assert np.all(np.abs(np.bincount(y[keep]) - expected) < 1), (np.bincount(y[keep]), expected)
    assert np.array_equal(keep, training.within_budget(y, int(x[0].nbytes), budget_mb, seed=7))  # a reproduction
    assert not np.array_equal(keep, training.within_budget(y, int(x[0].nbytes), budget_mb, seed=8))


def test_a_rare_class_keeps_a_sample_under_a_tight_budget(digits):
    x, y = digits
    rare = np.concatenate([y[y != 9], y[y == 9][:2]])  # 2 nines among 1617 scans
    keep = training.within_budget(rare, int(x[0].nbytes), 100 * x[0].nbytes / 2**20, seed=0)
    assert 9 in rare[keep]
    assert set(np.unique(rare[keep])) == set(range(10))


def _nights():
    """Three nights of real watches (BasicMotions as 6 watches, a day apart); on the newest night
    the watches never played badminton."""
    import pandas as pd

    from devstack.real_data import BASIC_MOTIONS_CHANNELS, basic_motions_fleet
    from include.retrain import config
    from include.retrain.ml import features, splits

    days = {
        f"2026-11-0{d}": basic_motions_fleet(6, seed=d, start=pd.Timestamp(f"2026-11-0{d}T08:00", tz="UTC"))
        for d in (1, 2, 3)
    }
    days["2026-11-03"] = days["2026-11-03"][days["2026-11-03"].label != "badminton"]
    spec = config.get("pump_fleet").sensor.model_copy(
        update={
            "channels": BASIC_MOTIONS_CHANNELS,
            "labels": sorted(days["2026-11-01"].label.unique()),
            "window": 50,
            "stride": 25,
        }
    )
    ds = config.get("pump_fleet").model_copy(update={"name": "motions", "sensor": spec})
    plan = splits.decide_sensor_plan(ds, pd.concat(days.values(), ignore_index=True), "c0")
    windows = {n: features.sensor_windows(t, spec, plan.block_seconds) for n, t in days.items()}
    return ds, windows


def test_training_reads_the_newest_nights_that_fill_the_budget_with_every_class_in_every_split():
    from include.retrain.ml import dataset, features

    ds, windows = _nights()
    read = []

    def samples_of(night):
        read.append(night)
        return windows[night].y, windows[night].keys

    newest_first = sorted(windows, reverse=True)  # before "two days" joins them
    one = int(windows["2026-11-02"].x[0].nbytes)
    assert one == dataset.sample_bytes(ds)
    train_2 = len(features.split(windows["2026-11-02"])["train"])
    # a night with every class in every split fills a budget of one window: nothing older is read
    windows["two days"] = features.concat([windows["2026-11-01"], windows["2026-11-02"]])
    assert dataset.newest_nights(ds, one / 2**20, ["two days", "2026-11-01"], samples_of) == ["two days"]
    # one real day of 6 watches never has every class in every split (a 10 s recording is one
    # activity): reading goes on until the nights together do
    read.clear()
    assert dataset.newest_nights(ds, one / 2**20, newest_first[1:], samples_of) == ["2026-11-02", "2026-11-01"]
    read.clear()
    # the newest night lacks a class: the night before is read too, however small the budget
    assert dataset.newest_nights(ds, one / 2**20, newest_first, samples_of) == ["2026-11-03", "2026-11-02"]
    assert read == ["2026-11-03", "2026-11-02"]  # the oldest night was never read
    # a budget the two nights' training windows do not fill: the oldest is read as well
    room = len(features.split(windows["2026-11-03"])["train"]) + train_2 + 1
    assert dataset.newest_nights(ds, room * one / 2**20, newest_first, samples_of) == newest_first


def test_the_evaluation_reads_the_newest_nights_whose_holdout_fills_its_budget_with_every_class():
    from include.retrain.ml import dataset, features

    ds, windows = _nights()
    newest_first = sorted(windows, reverse=True)
    one = dataset.sample_bytes(ds) / 2**20
    holdout = {n: features.split(w)["holdout"] for n, w in windows.items()}

    def samples_of(night):
        return windows[night].y, windows[night].keys

    def holdout_nights(budget_windows: float, nights: list[str]) -> list[str]:
        return dataset.newest_nights(ds, budget_windows * one, nights, samples_of, fill="holdout", cover=("holdout",))

    # no badminton in the newest night's holdout, no running in the one before's: together every class
    assert holdout_nights(1, newest_first) == newest_first[:2]
    assert holdout_nights(1, newest_first[1:]) == newest_first[1:]
    # the budget counts held-out samples: one more than the newest two hold goes on to the third,
    # where the training's rule (train samples, every class in every split) stops at two
    both = len(holdout["2026-11-03"]) + len(holdout["2026-11-02"])
    assert holdout_nights(both + 0.5, newest_first) == newest_first[:2]
    assert holdout_nights(both + 1.5, newest_first) == newest_first
    assert dataset.newest_nights(ds, (both + 1.5) * one, newest_first, samples_of) == newest_first[:2]
