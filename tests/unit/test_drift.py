import numpy as np

from include.retrain import config, steps
from include.retrain.config import TriggerParams
from include.retrain.quality import drift


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 20000)
    assert drift.psi(ref, rng.normal(0, 1, 20000)) < 0.01
    assert drift.psi(ref, rng.normal(1.0, 1, 20000)) > 0.2
    stat, p = drift.ks(ref, rng.normal(1.0, 1, 20000))
    assert stat > 0.3 and p < 1e-6


def test_compare_flags_only_drifted_features():
    rng = np.random.default_rng(1)
    ref = {"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 1, 5000)}
    cur = {"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 3, 5000)}
    out = drift.compare(ref, cur, threshold=0.2)
    assert out["drifted"] == ["b"] and out["drift_detected"]
    assert set(out["features"]["a"]) == {"ks", "ks_p", "psi"}


def test_psi_handles_constant_and_non_finite_values():
    assert drift.psi(np.ones(10), np.ones(10)) == 0.0
    assert drift.psi(np.array([0.0, 1.0, np.inf]), np.array([0.5, np.nan])) >= 0.0


def test_training_policy():
    nothing = {"drift_detected": False, "features": {"a": {"psi": 0.05}}, "threshold": 0.2}
    assert steps.training_decision(True, nothing, "3", False, False) is None  # new data
    assert steps.training_decision(False, {"drift_detected": True}, "3", False, False) is None  # drift
    assert steps.training_decision(False, nothing, None, False, False) is None  # first model
    assert steps.training_decision(False, nothing, "3", True, False) is None  # forced
    reason = steps.training_decision(False, nothing, "3", False, False)
    assert reason == "nothing new merged, no drift (max PSI 0.050 <= 0.2) and champion v3 exists"
    assert steps.training_decision(True, nothing, "3", False, True).startswith("ingest_only")
    assert steps.training_decision(True, nothing, "3", False, False, backfill=True).startswith("backfill run")
    assert steps.training_decision(True, nothing, None, False, False, backfill=True)  # deferred: no first model
    assert steps.training_decision(True, nothing, "3", True, False, backfill=True) is None  # forced
    # no champion, and the candidate this night would train was rejected on the same data
    assert steps.training_decision(False, nothing, None, False, False, rejected="v1 rejected") == "v1 rejected"
    assert steps.training_decision(True, nothing, None, False, False, rejected="v1 rejected") is None  # new data
    assert steps.training_decision(False, nothing, None, True, False, rejected="v1 rejected") is None  # forced


def test_the_training_fingerprint_follows_the_config_and_every_knob_of_the_job():
    ds = config.get("pump_fleet")
    default = TriggerParams().fingerprint(ds)
    # what the training job computes from its resolved arguments (jobs/train.py)
    assert default == config.training_fingerprint(
        ds, ds.tune.num_samples, ds.tune.max_epochs, ds.tune.gpus_per_trial, 0, 0.0
    )
    assert TriggerParams(force_retrain=True, drift_threshold=0.5).fingerprint(ds) == default  # not training knobs
    assert TriggerParams(num_samples=ds.tune.num_samples).fingerprint(ds) == default  # the default, spelled out
    others = [
        TriggerParams(num_samples=ds.tune.num_samples + 1).fingerprint(ds),
        TriggerParams(max_epochs=2).fingerprint(ds),
        TriggerParams(gpus_per_trial=0.5).fingerprint(ds),
        TriggerParams(train_label_noise=0.3).fingerprint(ds),
        TriggerParams().fingerprint(ds.model_copy(update={"gate": ds.gate.model_copy(update={"floor": 0.5})})),
    ]
    assert len({default, *others}) == 6
    # when and how a run happens is not what it trains: the approval timeout differs between the
    # Airflow and the Ray processes of the local stack (its default comes from the environment)
    operational = ds.model_copy(update={"deadline_minutes": 5.0, "schedule": "0 3 * * *"})
    operational = operational.model_copy(update={"gate": ds.gate.model_copy(update={"approval_timeout_minutes": 1})})
    assert TriggerParams().fingerprint(operational) == default


def test_small_samples_of_the_same_distribution_do_not_read_as_drift():
    rng = np.random.default_rng(7)
    flagged = sum(
        drift.compare({"a": rng.normal(0, 1, 120)}, {"a": rng.normal(0, 1, 120)}, 0.2)["drift_detected"]
        for _ in range(200)
    )
    assert flagged <= 2  # PSI alone would flag ~5 % of these


def test_image_features_of_two_generated_days_do_not_drift_but_a_lighting_change_does():
    from devstack import generate
    from include.retrain import config
    from include.retrain.quality import image_measures
    from include.retrain.quality.image import reference_image

    ds = config.get("cast_metal")
    ref_picture = reference_image(ds)

    def feats(date, drift_amount=0.0):
        files = generate.image_partition(ds, date, per_class=30, drift=drift_amount)
        facts = [image_measures.measure(f.body, ref_picture) for f in files]
        return {"intensity_mean": np.array([f.mean for f in facts]), "ssim": np.array([f.ssim for f in facts])}

    day1 = feats("2026-11-01")
    assert not drift.compare(day1, feats("2026-11-02"), 0.2)["drift_detected"]
    assert "intensity_mean" in drift.compare(day1, feats("2026-11-03", drift_amount=1.0), 0.2)["drifted"]
