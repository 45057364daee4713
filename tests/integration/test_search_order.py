"""A night's candidate does not depend on which trial happens to report first.

The job's own search (``train.search``) and selection (``train.best_checkpoint``) on a throwaway
local Ray with 2 CPUs, run twice on the same two trials, which differ only in when they report:
- a slow starter, worse after its first epoch and the best by its last (what a deeper or more
  regularised network often does on real data: cast_metal's depth-1 configuration reached 1.0 by
  epoch 3 from a weaker first epoch);
- a fast starter, better after its first epoch and then flat.
In one search the slow starter's first report is held back 3 s, in the other the fast starter's.
Both searches must train both trials for the same epochs and select the same, best, epoch.

Seen failing with the ASHA scheduler the job had until 2026-12-02 (grace period 1, reduction
factor 2): the slow starter was cut after its first epoch when it reported second, so the fast
starter's 0.7 became the candidate in one search and the slow starter's 1.0 in the other. The
same happened on the real stack: cast_metal nights with no candidate above the 0.90 floor.
"""

from __future__ import annotations

import json
import sys

from tests.integration.conftest import in_local_ray_child, report_scripted

# validation score after each epoch
SCORES = {"slow_starter": [0.3, 0.9, 1.0, 1.0], "fast_starter": [0.6, 0.7, 0.7, 0.7]}
HOLD_BACK_S = 3.0


def _scripted_trial(config: dict, late: str) -> None:
    """The trial named ``late`` holds back its first report."""
    name = config["name"]
    report_scripted(name, SCORES[name], HOLD_BACK_S if name == late else 0.0)


def _searches(storage: str) -> dict:
    """Run in the child process: the search with each trial held back in turn."""
    import ray
    from ray import tune

    from include.retrain.jobs import train

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    out: dict = {}
    for late in SCORES:
        tuner = train.search(
            tune.with_resources(tune.with_parameters(_scripted_trial, late=late), {"CPU": 1}),
            {"name": tune.grid_search(list(SCORES))},
            num_samples=1, seed=0, select="val_macro_f1",
            name=f"late-{late}", max_failures=0, storage=storage,
        )  # fmt: skip
        results = tuner.fit()
        assert results.num_errors == 0, results.errors
        _, metrics, chosen = train.best_checkpoint(results, "val_macro_f1")
        out[late] = {
            "epochs": {r.config["name"]: int(r.metrics["epoch"]) for r in results},
            "candidate": [chosen["name"], metrics["epoch"], metrics["val_macro_f1"]],
        }
    ray.shutdown()
    return out


def test_the_candidate_does_not_depend_on_which_trial_reports_first(tmp_path):
    out = in_local_ray_child("tests.integration.test_search_order", str(tmp_path))
    slow_late, fast_late = out["slow_starter"], out["fast_starter"]
    assert slow_late["epochs"] == fast_late["epochs"] == {"slow_starter": 4, "fast_starter": 4}, out
    assert slow_late["candidate"] == fast_late["candidate"], out
    assert slow_late["candidate"][0::2] == ["slow_starter", 1.0], out


if __name__ == "__main__":
    print(json.dumps(_searches(sys.argv[1])))
