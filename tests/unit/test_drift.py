import numpy as np

from include.retrain import drift, pipeline


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 20000)
    assert drift.psi(ref, rng.normal(0, 1, 20000)) < 0.01
    assert drift.psi(ref, rng.normal(1.0, 1, 20000)) > 0.2
    assert drift.ks(ref, rng.normal(1.0, 1, 20000)) > 0.3


def test_compare_flags_only_drifted_features():
    rng = np.random.default_rng(1)
    ref = {"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 1, 5000)}
    cur = {"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 3, 5000)}
    out = drift.compare(ref, cur, threshold=0.2)
    assert out["drifted"] == ["b"] and out["drift_detected"]
    assert set(out["features"]["a"]) == {"ks", "psi"}


def test_psi_handles_constant_and_non_finite_values():
    assert drift.psi(np.ones(10), np.ones(10)) == 0.0
    assert drift.psi(np.array([0.0, 1.0, np.inf]), np.array([0.5, np.nan])) >= 0.0


def test_training_policy():
    nothing = {"drift_detected": False, "features": {"a": {"psi": 0.05}}, "threshold": 0.2}
    assert pipeline.training_decision(True, nothing, "3", False, False) is None  # new data
    assert pipeline.training_decision(False, {"drift_detected": True}, "3", False, False) is None  # drift
    assert pipeline.training_decision(False, nothing, None, False, False) is None  # first model
    assert pipeline.training_decision(False, nothing, "3", True, False) is None  # forced
    reason = pipeline.training_decision(False, nothing, "3", False, False)
    assert reason == "nothing new merged, no drift (max PSI 0.050 <= 0.2) and champion v3 exists"
    assert pipeline.training_decision(True, nothing, "3", False, True).startswith("ingest_only")
