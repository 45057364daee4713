"""The gate's statistics on simulated paired holdouts with known true accuracies.

Each simulated holdout has 40 held-out machines with 10 windows each. A machine is easier or
harder for both models alike (a shared random effect), and the two models' errors on one window
are correlated, as they are for two models trained on the same data. The gate's rule must keep
both of its promises over 1,000 holdouts each:

* a candidate truly worse than the champion by more than the margin is promoted in <= 5 %;
* a candidate truly as good as the champion is rejected in <= 5 %.
"""

from __future__ import annotations

import numpy as np

from include.retrain.release import evidence
from include.retrain.release.gate import decide

MARGIN, FLOOR = 0.02, 0.5
UNITS, WINDOWS = 40, 10
SIMULATIONS = 1000


def _holdout(rng: np.random.Generator, champion: float, candidate: float):
    """Labels, both models' predictions and the unit of every window of one simulated holdout."""
    units = np.repeat(np.arange(UNITS), WINDOWS)
    y = rng.integers(0, 2, len(units))
    effect = rng.normal(0.0, 0.05, UNITS)[units]  # some machines are harder, for both models
    shared = rng.random(len(units))  # how hard each window is, for both models
    own = rng.random(len(units))
    u_champion = np.where(rng.random(len(units)) < 0.7, shared, own)  # correlated errors
    u_candidate = np.where(rng.random(len(units)) < 0.7, shared, rng.random(len(units)))
    right_champion = u_champion < np.clip(champion + effect, 0, 1)
    right_candidate = u_candidate < np.clip(candidate + effect, 0, 1)
    return y, np.where(right_candidate, y, 1 - y), np.where(right_champion, y, 1 - y), units


def _outcomes(champion: float, candidate: float, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    counts = {"promote": 0, "reject": 0, "inconclusive": 0}
    for _ in range(SIMULATIONS):
        y, cand, champ, units = _holdout(rng, champion, candidate)
        ev = evidence.gate_evidence(
            "holdout_accuracy", y, cand, units, ["a", "b"], [("champion", "1", champ)], "machine"
        )
        counts[decide(ev, FLOOR, MARGIN)["decision"]] += 1  # type: ignore[arg-type]
    return counts


def test_a_candidate_worse_by_more_than_the_margin_is_rarely_promoted_and_an_equal_one_rarely_rejected():
    worse = _outcomes(champion=0.90, candidate=0.90 - MARGIN - 0.01, seed=1)
    equal = _outcomes(champion=0.90, candidate=0.90, seed=2)
    promoted_worse = worse["promote"] / SIMULATIONS
    rejected_equal = equal["reject"] / SIMULATIONS
    print(
        f"\nworse by {MARGIN + 0.01:.2f} (margin {MARGIN}): promoted {promoted_worse:.1%} {worse}"
        f"\nequal: rejected {rejected_equal:.1%} {equal}"
    )
    assert promoted_worse <= 0.05, worse
    assert rejected_equal <= 0.05, equal
    # On 400 windows from 40 machines a 0.02 margin is about one standard error: most equal
    # candidates go to a person (inconclusive) instead of being promoted or rejected on luck.
    assert equal["promote"] > 0.15 * SIMULATIONS, equal


def test_identical_predictions_give_a_zero_width_difference():
    rng = np.random.default_rng(3)
    y, cand, _, units = _holdout(rng, 0.9, 0.9)
    d = evidence.paired_difference(y, cand, cand, units, 2, "accuracy")
    assert (d.difference.value, d.difference.low, d.difference.high) == (0.0, 0.0, 0.0)
    assert d.mcnemar_p == 1.0 and d.candidate_only == d.other_only == 0


def test_mcnemar_is_exact_on_the_discordant_samples():
    assert evidence.mcnemar_p(0, 0) == 1.0
    assert abs(evidence.mcnemar_p(10, 0) - 2 * 0.5**10) < 1e-12  # two-sided binomial
    assert evidence.mcnemar_p(5, 5) == 1.0


def test_resampling_whole_units_widens_the_interval_when_windows_of_a_unit_are_alike():
    """40 machines whose 10 windows are all right or all wrong hold the information of 40 samples,
    not 400: the interval must be as wide as that of 40 independent samples."""
    rng = np.random.default_rng(4)
    right = rng.random(UNITS) < 0.8
    units = np.repeat(np.arange(UNITS), WINDOWS)
    y = np.zeros(len(units), np.int64)
    pred = np.where(np.repeat(right, WINDOWS), 0, 1)
    clustered = evidence.metric_interval(evidence.unit_confusions(y, pred, units, 2), "accuracy")
    windows = evidence.metric_interval(evidence.unit_confusions(y, pred, np.arange(len(units)), 2), "accuracy")
    assert clustered.high - clustered.low > 2.5 * (windows.high - windows.low), (clustered, windows)


def test_metrics_of_confusion_matrices_match_scikit_learn():
    from include.retrain.ml import metrics

    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    c = evidence.unit_confusions(y, pred, np.arange(300) // 7, 4).sum(axis=0)
    expected = metrics.summary(y, pred, ["a", "b", "c", "d"])
    assert abs(evidence.metric_of(c, "accuracy") - expected["accuracy"]) < 1e-12
    assert abs(evidence.metric_of(c, "macro_f1") - expected["macro_f1"]) < 1e-12
    assert abs(evidence.metric_of(c, "recall_2") - expected["recall_c"]) < 1e-12


def test_a_rare_class_is_judged_on_the_units_that_hold_it():
    """A class on 2 of 40 machines, always recognised: its recall is 1 in every resample that can
    say anything about it (resamples without it used to score 0 and dragged the bound to 0)."""
    units = np.repeat(np.arange(UNITS), WINDOWS)
    y = np.where(units < 2, 1, 0)
    c = evidence.unit_confusions(y, y.copy(), units, 2)
    rare = evidence.recall_interval(c, 1)
    assert (rare.value, rare.low, rare.high) == (1.0, 1.0, 1.0)
    absent = evidence.recall_interval(
        evidence.unit_confusions(np.zeros(10, np.int64), np.zeros(10, np.int64), np.arange(10), 2), 1
    )
    assert (absent.low, absent.high) == (0.0, 1.0)  # no sample of the class: a floor on it stays open
