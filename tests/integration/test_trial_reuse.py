"""A trial run in a reused worker process learns exactly what it learns in a new one.

The job's own search (``train.search``) and trial (``train.train_trial``, reading its samples from
derived shards in the stack's lakeFS and logging to the stack's MLflow server) on real images:
scikit-learn's handwritten digits (1797 8x8 scans, 10 classes) with the image augmentation policy
of the shipped inspection dataset. The same seeded search runs
twice on a throwaway local Ray in a child process (Ray's auth settings are global to a process: the
session's cluster uses token auth): with actor reuse (the job's setting) and without. The reusing
search must run its trials in fewer processes than it has trials, and every trial must report the
same validation scores epoch by epoch, and stop after the same epoch, as in a process of its own:
nothing of an earlier trial (model, optimiser, batch order, checkpoint, seed) leaks into the next.
A reused worker reads the samples once: its next trial takes the ones it read, unchanged.

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
NIGHT, SHARD_KEY = "2026-10-01", "trial-reuse-digits"
AUGMENT = {"hflip": 1, "vflip": 1, "rotate_degrees": 10, "brightness": 0.1}  # cast_metal's policy


def _dataset():
    """A copy of the digits dataset (tests/conftest.py) with a repository of its own."""
    from devstack.generate import dataset_copy
    from include.retrain import config

    return dataset_copy(config.get("digits"), "trial_reuse_digits")


def _shard_reads() -> int:
    """How many times the throwaway Ray's workers read the shards (``train.trial_samples`` says)."""
    from pathlib import Path

    import ray

    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    return sum(f.read_text().count("derived shard(s) in") for f in logs.glob("worker-*.out"))


def _digits() -> dict:
    """The digits as a night's train and val shards, and what the driver derives from them."""
    import numpy as np
    from sklearn.datasets import load_digits

    from include.retrain.ml import features

    digits = load_digits()
    x = np.clip(digits.images[:, None] * 16, 0, 255).astype(np.float32)  # 0..16 ink -> 8-bit grey
    y = digits.target.astype(np.int64)
    keys = np.asarray([f"digit-{i}" for i in range(len(y))], dtype=object)
    order = np.random.default_rng(0).permutation(len(y))
    parts = {s: features.Samples(x[i], y[i], keys[i]) for s, i in (("train", order[:1200]), ("val", order[1200:]))}
    return {"parts": parts, "stats": features.channel_stats(parts["train"].x)}


def _write_shards(stack, ds) -> list:
    """The digits written as a night's derived shard of ``ds``, as a training's driver writes them."""
    from include.retrain.lake import lakefs_io
    from include.retrain.ml import derived

    clt = lakefs_io.client(stack.lakefs_endpoint())
    lakefs_io.ensure_repository(clt, ds.repository)
    parts = _digits()["parts"]
    derived.write(clt, ds.repository, NIGHT, SHARD_KEY, parts, "test")
    return [[NIGHT, SHARD_KEY, {s: len(p) for s, p in parts.items()}]]


def _inputs(ds, shards: list, experiment_id: str, parent_run_id: str) -> dict:
    import numpy as np

    from include.retrain.ml import dataset

    digits = _digits()
    parts = digits["parts"]
    mean, std = digits["stats"]
    return {
        "dataset": ds, "shards": [tuple(s) for s in shards], "train_y": parts["train"].y,
        "positions": {s: np.arange(len(p)) for s, p in parts.items()},
        "fingerprints": {s: dataset.fingerprint(p) for s, p in parts.items()},
        "mean": mean, "std": std, "labels": [str(d) for d in range(10)], "augment": AUGMENT,
        "max_epochs": EPOCHS, "patience": 3, "select": "val_macro_f1", "loss_weights": None,
        "cpus_per_trial": 1, "mixed_precision": False,
        "experiment_id": experiment_id, "parent_run_id": parent_run_id,
    }  # fmt: skip


def _searches(arg: str) -> dict:
    """Run in the child process: the search with and without reuse; per trial, pid and scores."""
    import mlflow
    import ray
    from ray import tune

    from include.retrain import config
    from include.retrain.jobs import train

    storage, shards = json.loads(arg)
    ds = _dataset()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    mlflow.set_experiment("test-trial-reuse")
    out: dict = {}
    for reuse in (True, False):
        with mlflow.start_run(run_name=f"reuse={reuse}") as parent:
            inputs = _inputs(ds, shards, parent.info.experiment_id, parent.info.run_id)
            space = train.tune_space(config.DEFAULT_SEARCH_SPACE) | {"seed": 0}
            kwargs = {"num_samples": TRIALS, "seed": 0, "select": "val_macro_f1"}
            tuner = train.search(
                tune.with_resources(tune.with_parameters(train.train_trial, inputs=inputs), {"CPU": 1}),
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
                # the trials' reads of the shards so far, less those of the search before
                "reads": _shard_reads() - sum(o["reads"] for o in out.values()),
            }
    ray.shutdown()
    return out


def test_trials_reuse_their_worker_and_learn_the_same(stack, tmp_path):
    shards = _write_shards(stack, _dataset())
    env = stack.mlflow_env() | {k: v for k, v in stack.ray_cluster_env().items() if k.startswith("LAKECTL_")}
    out = in_local_ray_child("tests.integration.test_trial_reuse", json.dumps([str(tmp_path), shards]), env=env)
    reuse, fresh = out["reuse"], out["fresh"]
    assert len(fresh["pids"]) == TRIALS, fresh["pids"]  # the baseline really started a process per trial
    assert len(reuse["pids"]) < TRIALS, f"the reusing search started a process per trial: {reuse['pids']}"
    assert reuse["trials"].keys() == fresh["trials"].keys()  # the same seeded configurations
    assert max(len(v) for v in fresh["trials"].values()) > 1, fresh["trials"]
    for k, scores in fresh["trials"].items():
        assert reuse["trials"][k] == scores, k
    # every trial reads the shards, but a reused worker's next trial takes what it read
    assert fresh["reads"] == TRIALS and reuse["reads"] == len(reuse["pids"]), (fresh, reuse)


if __name__ == "__main__":
    print(json.dumps(_searches(sys.argv[1])))
