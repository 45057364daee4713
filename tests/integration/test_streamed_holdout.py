"""The evaluation reads the holdout file by file (``dataset.load_holdout``) from the real lakeFS:
the same samples as the holdout of the whole commit, on real recordings and real images, and a
file that slipped past validation is still named wherever its rows fall.
"""

from __future__ import annotations

import io

import lakefs
import numpy as np
import pandas as pd
import pytest

from devstack.real_data import basic_motions_fleet, device_csvs, digit_pngs
from include.retrain.lake import lakefs_io
from include.retrain.ml import dataset
from tests.integration.conftest import dataset_copy, publish_files


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert list(a.keys) == list(b.keys)


def test_the_streamed_holdout_of_real_watches_is_the_holdout_of_the_whole_commit(stack, endpoint):
    ds = dataset_copy("motions_fleet", "streamed_motions")
    for day in ("2026-10-01", "2026-10-02"):  # two nights of 4 watches: the time unit, machines across files
        start = pd.Timestamp(f"{day}T08:00", tz="UTC").to_pydatetime()
        commit = publish_files(
            stack, endpoint, ds, day, f"streamed__{day}", device_csvs(basic_motions_fleet(4, start=start))
        )
    clt = lakefs_io.client(endpoint)
    whole = dataset.load_splits(ds, commit, clt, record=True)  # records the plan, as the training does
    assert whole.plan.unit == "time"
    # read file by file, not from the nights' shards that the read above wrote
    streamed = dataset.load_holdout(ds, commit, clt, shards=False)
    assert streamed.from_shards == [] and sorted(streamed.cut) == ["2026-10-01", "2026-10-02"]
    assert streamed.plan == whole.plan and len(streamed["holdout"]) > 0
    _same(streamed["holdout"], whole["holdout"])
    # within a holdout budget of one window: the newest nights whose holdout has every activity,
    # the same samples as the holdout of those nights read whole
    budgeted = dataset.load_holdout(ds, commit, clt, budget_mb=dataset.sample_bytes(ds) / 2**20, shards=False)
    print(f"a holdout budget of one window reads the nights {budgeted.nights or 'all'}")
    expected = dataset.load_splits(ds, commit, clt, since=budgeted.since() or None)
    _same(budgeted["holdout"], expected["holdout"])

    poisoned = next(p for p, _, _ in lakefs_io.list_paths(clt, ds.repository, commit, "data/") if "watch-01" in p)
    table = pd.read_csv(io.BytesIO(lakefs_io.read_bytes(clt, ds.repository, commit, poisoned)))
    table.loc[3, "acc_x"] = np.inf
    branch = lakefs.Repository(ds.repository, client=clt).branch("poisoned").create(source_reference=commit)
    branch.object(poisoned).upload(data=table.to_csv(index=False).encode())
    bad = str(branch.commit(message="slipped past validation").get_commit().id)
    with pytest.raises(dataset.UntrustedData, match=r"watch-01\.csv: 'acc_x' has 1 non-finite"):
        dataset.load_holdout(ds, bad, clt)


def test_the_streamed_holdout_of_real_images_is_the_holdout_of_the_whole_commit(stack, endpoint):
    ds = dataset_copy("digits", "streamed_digits")
    files = {k.split("/", 1)[1]: v for k, v in digit_pngs(30, "2026-10-01").items()}
    commit = publish_files(stack, endpoint, ds, "2026-10-01", "streamed__digits", files)
    clt = lakefs_io.client(endpoint)
    whole, streamed = dataset.load_splits(ds, commit, clt), dataset.load_holdout(ds, commit, clt)
    assert len(streamed["holdout"]) > 0
    _same(streamed["holdout"], whole["holdout"])


def test_the_evaluation_reads_the_holdout_of_the_newest_nights_that_fill_its_budget(stack, endpoint):
    ds = dataset_copy("digits", "holdout_budget_digits")
    first, later = "2026-10-01", "2026-10-02"
    night_1 = {k.split("/", 1)[1]: v for k, v in digit_pngs(30, first).items()}
    night_2 = {  # the next 30 images of each digit
        k.split("/", 1)[1]: v for k, v in digit_pngs(60, later).items() if k.split("/", 1)[1] not in night_1
    }
    publish_files(stack, endpoint, ds, first, "holdout_budget__1", night_1)
    commit = publish_files(stack, endpoint, ds, later, "holdout_budget__2", night_2)
    clt = lakefs_io.client(endpoint)
    one = dataset.sample_bytes(ds) / 2**20
    newest = dataset.load_holdout(ds, commit, clt, budget_mb=one)
    assert newest.nights == [later]  # every digit is held out on the newest night: the older one is not read
    # what make reproduce reads (load_splits would refuse this night alone: no '7' in its val split)
    _same(newest["holdout"], dataset.load_holdout(ds, commit, clt, since=later)["holdout"])
    # a budget the newest night does not fill reads both: the whole holdout
    bigger = dataset.load_holdout(ds, commit, clt, budget_mb=(len(newest["holdout"]) + 1.5) * one)
    assert bigger.nights is None
    _same(bigger["holdout"], dataset.load_holdout(ds, commit, clt)["holdout"])
    assert len(bigger["holdout"]) > len(newest["holdout"])
