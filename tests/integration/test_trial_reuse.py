"""A trial run in a reused worker process learns exactly what it learns in a new one.

The job's own search (``train.search``) and trial (``train.train_trial``, logging to the stack's
MLflow server) on real images: scikit-learn's handwritten digits (1797 8x8 scans, 10 classes)
with the image augmentation policy of the shipped inspection dataset. The same seeded search runs
twice on a throwaway local Ray in a child process (Ray's auth settings are global to a process: the
session's cluster uses token auth): with actor reuse (the job's setting) and without. The reusing
search must run its trials in fewer processes than it has trials, and every trial must report the
same validation scores epoch by epoch, and stop after the same epoch, as in a process of its own:
nothing of an earlier trial (model, optimiser, batch order, checkpoint, seed) leaks into the next.

Until 2026-12-02 the search had ASHA, whose cuts follow the order in which reports arrive, which
reuse changes (a warm worker reports sooner): the same trial stopped after 1 epoch in one search
and after 2 in the other, so only the epochs both ran could be compared. The search now has no
cross-trial scheduler (``tests/integration/test_search_order.py``) and whole histories are equal.
"""

from __future__ import annotations

import json
import sys

from tests.integration.conftest import in_local_ray_child

TRIALS, EPOCHS = 4, 6
AUGMENT = {"hflip": 1, "vflip": 1, "rotate_degrees": 10, "brightness": 0.1}  # cast_metal's policy


def _arrays(experiment_id: str, parent_run_id: str) -> dict:
    import numpy as np
    from sklearn.datasets import load_digits

    from include.retrain.ml import features

    digits = load_digits()
    x = np.clip(digits.images[:, None] * 16, 0, 255).astype(np.float32)  # 0..16 ink -> 8-bit grey
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    train, val = order[:1200], order[1200:]
    mean, std = features.channel_stats(x[train])
    return {
        "train_x": x[train], "train_y": y[train], "val_x": x[val], "val_y": y[val],
        "mean": mean, "std": std, "labels": [str(d) for d in range(10)], "augment": AUGMENT,
        "max_epochs": EPOCHS, "patience": 3, "select": "val_macro_f1", "loss_weights": None,
        "cpus_per_trial": 1, "mixed_precision": False,
        "experiment_id": experiment_id, "parent_run_id": parent_run_id,
    }  # fmt: skip


def _searches(storage: str) -> dict:
    """Run in the child process: the search with and without reuse; per trial, pid and scores."""
    import mlflow
    import ray
    from ray import tune

    from include.retrain import config
    from include.retrain.jobs import train

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    mlflow.set_experiment("test-trial-reuse")
    out: dict = {}
    for reuse in (True, False):
        with mlflow.start_run(run_name=f"reuse={reuse}") as parent:
            arrays = _arrays(parent.info.experiment_id, parent.info.run_id)
            space = train.tune_space(config.DEFAULT_SEARCH_SPACE) | {"seed": 0}
            kwargs = {"num_samples": TRIALS, "seed": 0, "select": "val_macro_f1"}
            tuner = train.search(
                tune.with_resources(tune.with_parameters(train.train_trial, arrays=arrays), {"CPU": 1}),
                space, **kwargs, name=f"reuse-{reuse}", max_failures=0, storage=storage,
                reuse_actors=reuse,
            )  # fmt: skip
            results = tuner.fit()
            assert results.num_errors == 0, results.errors
            out["reuse" if reuse else "fresh"] = {
                "trials": {
                    json.dumps(r.config, sort_keys=True): [round(v, 6) for v in r.metrics_dataframe["val_macro_f1"]]
                    for r in results
                },
                "pids": sorted({int(p) for r in results for p in r.metrics_dataframe["pid"]}),
            }
    ray.shutdown()
    return out


def test_trials_reuse_their_worker_and_learn_the_same(stack, tmp_path):
    out = in_local_ray_child("tests.integration.test_trial_reuse", str(tmp_path), env=stack.mlflow_env())
    reuse, fresh = out["reuse"], out["fresh"]
    assert len(fresh["pids"]) == TRIALS, fresh["pids"]  # the baseline really started a process per trial
    assert len(reuse["pids"]) < TRIALS, f"the reusing search started a process per trial: {reuse['pids']}"
    assert reuse["trials"].keys() == fresh["trials"].keys()  # the same seeded configurations
    assert max(len(v) for v in fresh["trials"].values()) > 1, fresh["trials"]
    for k, scores in fresh["trials"].items():
        assert reuse["trials"][k] == scores, k


if __name__ == "__main__":
    print(json.dumps(_searches(sys.argv[1])))
