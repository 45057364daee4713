"""The registered model is the best epoch's checkpoint, not the last epoch of the best trial.

A real Ray Tune search with the job's checkpoint settings, on a throwaway local Ray of its own in a
child process (Ray's auth settings are global to a process: the session's cluster uses token
auth). The trials report scripted scores, so the best epoch is known: one trial peaks at epoch 2
and ends worse, the other climbs but never reaches that peak.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from include.retrain.jobs import train
from tests.integration.conftest import in_local_ray_child, report_scripted

SCORES = {"peaks_early": [0.50, 0.90, 0.60], "climbs": [0.70, 0.80, 0.85]}


def _scripted(cfg: dict) -> None:
    report_scripted(cfg["trial"], SCORES[cfg["trial"]])


def _search(storage: str) -> dict:
    """Run in the child process: the search, then what ``train.best_checkpoint`` chose."""
    import ray
    from ray import tune

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        tune.with_resources(_scripted, {"CPU": 1}),
        param_space={"trial": tune.grid_search(list(SCORES))},
        run_config=tune.RunConfig(
            name="best-checkpoint", storage_path=storage, checkpoint_config=train.checkpoint_config("val_macro_f1")
        ),
    )
    checkpoint, metrics, config = train.best_checkpoint(tuner.fit(), "val_macro_f1")
    with checkpoint.as_directory() as d:
        chosen = json.loads((Path(d) / "epoch.json").read_text())
    ray.shutdown()
    return {"chosen": chosen, "metrics": {k: metrics[k] for k in ("val_macro_f1", "epoch")}, "trial": config["trial"]}


def test_the_best_epoch_across_trials_is_the_checkpoint_chosen(tmp_path):
    out = in_local_ray_child("tests.integration.test_best_checkpoint", str(tmp_path), timeout=300)
    assert out["chosen"] == {"trial": "peaks_early", "epoch": 2}, out
    assert out["metrics"] == {"val_macro_f1": 0.90, "epoch": 2} and out["trial"] == "peaks_early"


if __name__ == "__main__":
    print(json.dumps(_search(sys.argv[1])))
