"""Each night's samples are cut once (#15 part 2): the training writes them as shards on their
own lakeFS branch, and later reads (the next retrain, the evaluation, a reproduction) take a
night's shard when it was cut from exactly that night's files by the same recipe. Real lakeFS,
real recordings (sktime's BasicMotions) and real images (scikit-learn's digits).
"""

from __future__ import annotations

import lakefs
import numpy as np
import pandas as pd
import pytest

from devstack.real_data import basic_motions_fleet, device_csvs, digit_pngs
from include.retrain.lake import lakefs_io
from include.retrain.ml import dataset, derived, training
from tests.integration.conftest import dataset_copy, publish_files


def _same(a, b) -> None:
    for split in ("train", "val", "holdout"):
        np.testing.assert_array_equal(a[split].x, b[split].x)
        np.testing.assert_array_equal(a[split].y, b[split].y)
        assert list(a[split].keys) == list(b[split].keys)


def _watches(day: str, n: int = 4) -> dict[str, bytes]:
    start = pd.Timestamp(f"{day}T08:00", tz="UTC").to_pydatetime()
    return device_csvs(basic_motions_fleet(n, start=start))


def _main_head(clt, repository: str) -> str:
    return str(lakefs.Repository(repository, client=clt).branch("main").head.get_commit().id)


def test_a_night_is_cut_once_and_read_from_its_shard_until_its_files_change(stack, endpoint):
    ds = dataset_copy("motions_fleet", "derived_motions")
    one, two, three = "2026-10-01", "2026-10-02", "2026-10-03"
    for day in (one, two):
        commit = publish_files(stack, endpoint, ds, day, f"derived__{day}", _watches(day))
    clt = lakefs_io.client(endpoint)
    main = _main_head(clt, ds.repository)

    first = dataset.load_splits(ds, commit, clt, record=True)  # what the training does
    assert first.from_shards == [] and sorted(first.derived) == [one, two]
    assert _main_head(clt, ds.repository) == main  # shards live on their own branch, never on main
    shards = lakefs_io.list_paths(clt, ds.repository, derived.DERIVED_BRANCH, derived.DERIVED_PREFIX)
    assert {p.split("/")[1] for p, _, _ in shards} == {f"dt={one}", f"dt={two}"}

    again = dataset.load_splits(ds, commit, clt, record=True)  # the next retrain at the same commit
    assert sorted(again.from_shards) == [one, two] and again.derived == []
    _same(again, first)
    holdout = dataset.load_holdout(ds, commit, clt)  # the evaluation
    assert sorted(holdout.from_shards) == [one, two]
    np.testing.assert_array_equal(holdout["holdout"].x, first["holdout"].x)

    # a later night lands, and a fifth watch's recordings land late into night two: night two's
    # shard no longer matches its files, so it is cut again; night one's is read
    publish_files(stack, endpoint, ds, three, f"derived__{three}", _watches(three))
    late = {k: v for k, v in _watches(two, 5).items() if "watch-05" in k}
    assert late
    commit = publish_files(stack, endpoint, ds, two, f"derived__{two}_late", late)
    later = dataset.load_splits(ds, commit, clt, record=True)
    assert later.from_shards == [one] and sorted(later.derived) == [two, three]

    # the same samples as cutting every night from its files with no shard at all
    lakefs_io.delete_branch(lakefs.Repository(ds.repository, client=clt), derived.DERIVED_BRANCH)
    fresh = dataset.load_splits(ds, commit, clt)
    assert fresh.from_shards == [] and fresh.derived == []
    _same(later, fresh)

    # another recipe (a shorter stride) never reads a shard cut by this one
    dataset.load_splits(ds, commit, clt, record=True)
    assert ds.sensor is not None
    restrided = ds.model_copy(update={"sensor": ds.sensor.model_copy(update={"stride": ds.sensor.stride // 2})})
    other = dataset.load_splits(restrided, commit, clt)
    assert other.from_shards == [] and len(other["train"]) > len(fresh["train"])


def test_the_images_of_a_night_are_decoded_once(stack, endpoint):
    ds = dataset_copy("digits", "derived_digits")
    files = {k.split("/", 1)[1]: v for k, v in digit_pngs(30, "2026-10-01").items()}
    commit = publish_files(stack, endpoint, ds, "2026-10-01", "derived__digits", files)
    clt = lakefs_io.client(endpoint)
    first = dataset.load_splits(ds, commit, clt, record=True)
    assert first.derived == ["2026-10-01"]
    again = dataset.load_splits(ds, commit, clt)
    assert again.from_shards == ["2026-10-01"]
    _same(again, first)
    holdout = dataset.load_holdout(ds, commit, clt)
    assert holdout.from_shards == ["2026-10-01"]
    np.testing.assert_array_equal(holdout["holdout"].x, first["holdout"].x)


def test_the_evaluation_cuts_the_older_nights_the_training_did_not_read_once(stack, endpoint):
    # the holdout budget reaches older nights than the training's, and such a night has no shard
    # under its key after a change of the cutting code, a library or the spec, or when it landed
    # before the first training: the evaluation writes the shards of the nights it cut, so the
    # next evaluation reads every night from its shard
    ds = dataset_copy("motions_fleet", "derived_older")
    days = ["2026-10-01", "2026-10-02", "2026-10-03"]
    for day in days:
        commit = publish_files(stack, endpoint, ds, day, f"older__{day}", _watches(day))
    clt = lakefs_io.client(endpoint)
    trained = dataset.load_splits(ds, commit, clt, record=True, since=days[-1])  # a budget of one night
    assert trained.derived == [days[-1]]

    evaluated = dataset.load_holdout(ds, commit, clt, record=True)  # what the evaluation job does
    assert evaluated.from_shards == [days[-1]] and sorted(evaluated.derived) == days[:-1]
    again = dataset.load_holdout(ds, commit, clt, record=True)
    assert sorted(again.from_shards) == days and again.cut == [] and again.derived == []
    np.testing.assert_array_equal(again["holdout"].x, evaluated["holdout"].x)
    assert list(again["holdout"].keys) == list(evaluated["holdout"].keys)

    # the shards the evaluation wrote hold every split, as the training's do
    whole = dataset.load_splits(ds, commit, clt)
    assert sorted(whole.from_shards) == days
    lakefs_io.delete_branch(lakefs.Repository(ds.repository, client=clt), derived.DERIVED_BRANCH)
    _same(whole, dataset.load_splits(ds, commit, clt))


def test_a_trial_reads_the_drivers_samples_from_the_shards_night_by_night(stack, endpoint):
    # what a Tune trial reads (train.trial_samples): the samples the training's driver kept (its
    # budget's sample; the windows with a flat channel left out), taken night by night from the
    # shards, equal to the driver's sample for sample; a shard that holds other samples is refused
    ds = dataset_copy("motions_fleet", "derived_trial")
    for day in ("2026-10-01", "2026-10-02"):
        table = basic_motions_fleet(4, start=pd.Timestamp(f"{day}T08:00", tz="UTC").to_pydatetime())
        rows = table.index[table["asset_id"] == "watch-01"]  # its gyroscope z flat for a fifth of the day
        table.loc[rows[: len(rows) // 5], "gyr_z"] = 0.0
        commit = publish_files(stack, endpoint, ds, day, f"trial__{day}", device_csvs(table))
    clt = lakefs_io.client(endpoint)
    driver = dataset.load_splits(ds, commit, clt, record=True)  # the training's driver
    assert driver.flat_windows_dropped > 0 and len(driver.in_order) == 2
    train, val = driver["train"], driver["val"]
    index = training.within_budget(train.y, int(train.x[0].nbytes), len(train) * train.x[0].nbytes / 2**21, 0)
    assert 0 < len(index) < len(train)
    positions = {"train": driver.shard_positions("train", index), "val": driver.shard_positions("val")}
    cut = {s: sum(sizes[s] for _, _, sizes in driver.shards()) for s in ("train", "val")}
    assert len(driver.shard_positions("train")) + len(val) < cut["train"] + cut["val"]  # flat ones skipped
    read = dataset.read_shard_samples(ds, clt, driver.shards(), positions)
    for split, kept in (("train", train.subset(index)), ("val", val)):
        np.testing.assert_array_equal(read[split].x, kept.x)
        np.testing.assert_array_equal(read[split].y, kept.y)
        assert list(read[split].keys) == list(kept.keys)
        assert dataset.fingerprint(read[split]) == dataset.fingerprint(kept)
    assert dataset.fingerprint(read["train"]) != dataset.fingerprint(train)  # the budget's sample, not all

    miscounted = [(night, key, {**sizes, "train": sizes["train"] + 1}) for night, key, sizes in driver.shards()]
    with pytest.raises(dataset.ShardMismatch, match=r"holds .* samples, the training.s driver read"):
        dataset.read_shard_samples(ds, clt, miscounted, positions)
    lakefs_io.delete_branch(lakefs.Repository(ds.repository, client=clt), derived.DERIVED_BRANCH)
    with pytest.raises(dataset.ShardMismatch, match="deleted or reset"):
        dataset.read_shard_samples(ds, clt, driver.shards(), positions)
