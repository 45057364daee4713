"""The registered model is the best epoch's checkpoint, not the last epoch of the best trial.

A real Ray Tune search (a local Ray instance of its own) with the job's checkpoint settings; the
trials report scripted scores, so the best epoch is known: trial A peaks at epoch 2 and ends
worse, trial B climbs but never reaches A's peak.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from include.retrain.jobs import train

SCORES = {"peaks_early": [0.50, 0.90, 0.60], "climbs": [0.70, 0.80, 0.85]}


def _scripted(cfg: dict) -> None:
    from ray import tune

    for epoch, score in enumerate(SCORES[cfg["trial"]], start=1):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "epoch.json").write_text(json.dumps({"trial": cfg["trial"], "epoch": epoch}))
            tune.report({"val_macro_f1": score, "epoch": epoch}, checkpoint=tune.Checkpoint.from_directory(d))


@pytest.fixture
def local_ray(monkeypatch):
    import ray

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway Ray of this test process only
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_the_best_epoch_across_trials_is_the_checkpoint_chosen(local_ray, tmp_path):
    from ray import tune

    tuner = tune.Tuner(
        tune.with_resources(_scripted, {"CPU": 1}),
        param_space={"trial": tune.grid_search(list(SCORES))},
        run_config=tune.RunConfig(
            name="best-checkpoint",
            storage_path=str(tmp_path),
            checkpoint_config=train.checkpoint_config("val_macro_f1"),
        ),
    )
    results = tuner.fit()
    checkpoint, metrics, hp = train.best_checkpoint(results, "val_macro_f1")
    with checkpoint.as_directory() as d:
        chosen = json.loads((Path(d) / "epoch.json").read_text())
    assert chosen == {"trial": "peaks_early", "epoch": 2}
    assert metrics["val_macro_f1"] == 0.90 and metrics["epoch"] == 2
    assert hp["trial"] == "peaks_early"
