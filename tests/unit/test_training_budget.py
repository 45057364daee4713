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
