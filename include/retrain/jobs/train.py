"""Ray job: hyperparameter search with Ray Tune over the dataset's CNN.

The driver reads the newest nights that fill the training budget at an immutable lakeFS commit
(each night from its derived shard, or cut from its files and its shard written), decides the
samples trained on and the normalisation, and lets go of the samples. Each trial's worker process
reads them from the shards itself (once: a reused worker keeps them for its next trial), so no
array travels through the Ray object store. Every trial is an MLflow child run; the best model
is logged in the parent (candidate) run.

    python -m include.retrain.jobs.train --dataset pump_fleet --commit <id> --airflow-run-id <run>
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import config as config_mod
from ..handoffs import TrainResult
from ..lake import lakefs_io
from ..ml import dataset, features, training
from .submission import emit_result, run_job

SELECT_METRIC = {"holdout_accuracy": "val_accuracy", "holdout_macro_f1": "val_macro_f1"}


# The samples the last trial of this worker process read, by what they were read from: a trial the
# process runs next (actor reuse) with the same inputs takes them instead of reading them again.
_READ: dict[str, dict[str, Any]] = {}


def samples_digest(inputs: dict[str, Any]) -> str:
    """What a trial's samples are read from: the repository, the shards and the positions kept."""
    digest = hashlib.sha256(json.dumps([inputs["dataset"].repository, inputs["shards"]]).encode())
    for split in ("train", "val"):
        digest.update(np.ascontiguousarray(inputs["positions"][split], dtype=np.int64).tobytes())
    return digest.hexdigest()


def trial_samples(inputs: dict[str, Any]) -> dict[str, Any]:
    """A trial's ``train_x``, ``val_x`` and ``val_y``, read-only: the driver's samples, read from
    the nights' derived shards at the positions the driver kept (``dataset.read_shard_samples``)
    and checked against the driver's fingerprints, or those this worker process read for its
    previous trial of the same search."""
    digest = samples_digest(inputs)
    if digest not in _READ:
        _READ.clear()  # a worker keeps one search's samples, never two
        t0 = time.monotonic()
        ds = inputs["dataset"]
        parts = dataset.read_shard_samples(ds, lakefs_io.client_from_env(), inputs["shards"], inputs["positions"])
        for split, samples in parts.items():
            if dataset.fingerprint(samples) != inputs["fingerprints"][split]:
                raise dataset.ShardMismatch(
                    f"dataset '{ds.name}': the {split} samples this trial read from the derived shards of "
                    f"{ds.repository} are not those the training's driver read ({len(samples)} samples)"
                )
        train, val = parts["train"], parts["val"]
        read = {"train_x": train.x, "val_x": val.x, "val_y": val.y}
        for a in read.values():
            a.setflags(write=False)  # the next trial of this process gets them as they were read
        _READ[digest] = read
        mb = sum(a.nbytes for a in read.values()) / 2**20
        print(
            f"read {mb:.0f} MB of samples from {len(inputs['shards'])} derived shard(s) "
            f"in {time.monotonic() - t0:.1f}s",
            flush=True,
        )
    return _READ[digest]


def train_trial(hp: dict[str, Any], inputs: dict[str, Any]) -> None:
    """One Tune trial: read its samples (:func:`trial_samples`), train, report validation metrics
    each epoch, checkpoint, log to MLflow."""
    import mlflow
    import ray
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(inputs["cpus_per_trial"])))
    gpu_ids = ray.get_gpu_ids()
    device = training.pick_device(gpu_ids)
    arrays = {**inputs, **trial_samples(inputs)}
    labels = arrays["labels"]
    model, opt = training.new_model(hp, arrays["train_x"], len(labels), arrays["mean"], arrays["std"])
    client = mlflow.MlflowClient()
    start, child = 0, None
    ckpt = tune.get_checkpoint()
    if ckpt:  # a restored trial (after a worker failure) continues where it stopped
        with ckpt.as_directory() as d:
            state = torch.load(Path(d) / "state.pt", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start, child = state["epoch"] + 1, state["mlflow_run_id"]
        # visible lineage of a recovery: the trial's MLflow run says where it resumed
        client.set_tag(child, "ray.restored_at_epoch", str(start))
        print(f"trial {tune.get_context().get_trial_id()} restored from its checkpoint at epoch {start}", flush=True)
    if child is None:
        ctx = tune.get_context()
        run = client.create_run(
            arrays["experiment_id"],
            run_name=ctx.get_trial_name(),
            tags={"mlflow.parentRunId": arrays["parent_run_id"], "ray.trial_id": ctx.get_trial_id()},
        )
        child = run.info.run_id
        for k, v in hp.items():
            client.log_param(child, k, v)
    # where the trial ran, as Ray placed it (a restored trial records its new place)
    placement = {
        "ray.node_id": ray.get_runtime_context().get_node_id(),
        "ray.gpu_ids": ",".join(str(g) for g in gpu_ids) or "none",
        "device": device,
    }
    for k, v in placement.items():
        client.set_tag(child, k, v)
    plateau = training.Plateau(int(arrays["patience"]), start)
    for report in training.epochs(
        model,
        opt,
        (arrays["train_x"], arrays["train_y"]),
        (arrays["val_x"], arrays["val_y"]),
        labels,
        hp,
        arrays["augment"],
        start,
        int(arrays["max_epochs"]),
        device=device,
        mixed_precision=bool(arrays["mixed_precision"]),
        loss_weights=arrays["loss_weights"],
    ):
        epoch = int(report["epoch"]) - 1
        client.log_batch(
            child,
            metrics=[
                mlflow.entities.Metric(k, v, int(time.time() * 1000), epoch + 1)
                for k, v in report.items()
                if k != "epoch"
            ],
        )
        with tempfile.TemporaryDirectory() as d:
            torch.save(
                {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch, "mlflow_run_id": child},
                Path(d) / "state.pt",
            )
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(d))
        if plateau.update(float(report[arrays["select"]])):
            print(f"early stop after epoch {epoch + 1}: {arrays['select']} {plateau.describe()}", flush=True)
            client.set_tag(child, "early_stopped_at_epoch", str(epoch + 1))
            break
    client.set_terminated(child)


def trial_resources(cpus: float, gpus: float) -> Any:
    """A trial's request: its CPUs and GPUs (fractional GPUs pack trials onto one), and one unit of
    ``WORKER_RESOURCE``, which only worker nodes offer: no trial runs on the head."""
    import ray
    from ray import tune

    if not ray.is_initialized():
        ray.init()  # the job's driver joins the cluster it was submitted to
    offered = ray.cluster_resources().get(config_mod.WORKER_RESOURCE, 0)
    if not offered:
        raise SystemExit(
            f"no node of this Ray cluster offers the resource '{config_mod.WORKER_RESOURCE}' that every trial "
            "asks for: start the worker nodes with "
            f"--resources='{{\"{config_mod.WORKER_RESOURCE}\": 1000}}' (the local stack, docker/compose.yaml and "
            "docker/k8s/raycluster.yaml do)"
        )
    return tune.PlacementGroupFactory([{"CPU": cpus, "GPU": gpus, config_mod.WORKER_RESOURCE: 1}])


def checkpoint_config(metric: str) -> Any:
    """Each trial keeps its best checkpoint by the selection metric (Ray keeps its latest as well)."""
    from ray import tune

    return tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute=metric, checkpoint_score_order="max")


def best_checkpoint(results: Any, metric: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(checkpoint, metrics of its epoch, trial config) of the best epoch across every trial.

    Not ``get_best_result(scope="all")``: it picks the trial by its best epoch, but its
    ``checkpoint`` is the trial's latest and its ``metrics`` the last report."""
    kept = [
        (ckpt, metrics, result.config or {})
        for result in results
        for ckpt, metrics in (result.best_checkpoints or [])
        if metrics.get(metric) is not None
    ]
    if not kept:
        errors = [str(e).strip().splitlines() for e in results.errors]
        first = next((lines[-1] for lines in errors if lines), "")
        raise SystemExit(
            f"no trial produced a checkpoint with '{metric}' ({results.num_errors} trial errors)"
            + (f"; the first: {first}" if first else "")
        )
    return max(kept, key=lambda k: float(k[1][metric]))


def search(
    trainable: Any,
    space: dict[str, Any],
    *,
    num_samples: int,
    seed: int,
    select: str,
    name: str,
    max_failures: int,
    storage: str | None = None,
    reuse_actors: bool = True,
) -> Any:
    """The job's Tune search: seeded sampling, every trial trained until its own early stop,
    per-trial best checkpoint.

    No cross-trial scheduler: a trial stops after its ``max_epochs``, or after ``patience`` epochs
    without a better validation score (:func:`train_trial`), whatever the other trials do. ASHA did
    cut trials by the trials that reached the same rung *before* them, so a slow starter reporting
    second was cut after one epoch and the candidate followed timing, not data
    (``tests/integration/test_search_order.py``; docs/design-notes.md).

    ``reuse_actors``: a finished trial's worker process runs the next trial, so only a worker's
    first trial pays a process start and ``import torch``. :func:`train_trial` is safe to reuse:
    a trial reports the same scores with and without reuse (``tests/integration/test_trial_reuse.py``).
    """
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    storage = storage or os.environ.get("RETRAIN_TUNE_STORAGE", str(Path.home() / "ray_results"))
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            num_samples=num_samples,
            # seeded sampling: the same commit, seed and config give the same trials
            search_alg=BasicVariantGenerator(random_state=seed),
            reuse_actors=reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=checkpoint_config(select),
            verbose=1,
        ),
    )


def tune_space(space: dict[str, Any]) -> dict[str, Any]:
    """The config's search space (``DatasetConfig.tune.space``) as Ray Tune samplers."""
    from ray import tune

    out = {}
    for name, spec in space.items():
        if isinstance(spec, dict):
            kind, args = next(iter(spec.items()))
            out[name] = tune.choice(args) if kind == "choice" else getattr(tune, kind)(*args)
        else:
            out[name] = spec
    return out


def close_trial_runs(client: Any, experiment_id: str, parent_run_id: str, results: Any) -> None:
    """End the MLflow run of every trial: a trial that Tune stops in its last ``tune.report``, or
    that ends in an error, never reaches its own ``set_terminated``."""
    # a trial's folder is named after its id; an errored trial may never have reported metrics
    errored = [Path(r.path).name for r in results if r.error]
    for run in client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'RUNNING'"
    ):
        trial_id = run.data.tags.get("ray.trial_id", "")
        status = "FAILED" if trial_id and any(trial_id in name for name in errored) else "FINISHED"
        client.set_terminated(run.info.run_id, status)


def trial_cost(
    results: Any,
    cpus_per_trial: float,
    gpus_per_trial: float,
    client: Any = None,
    experiment_id: str = "",
    parent: str = "",
) -> dict[str, float]:
    """Seconds of every trial (Tune's ``time_total_s``) times the resources Ray reserved for it;
    with an MLflow ``client``, each trial's own figures also go to its child run."""
    per_trial = {
        str((r.metrics or {}).get("trial_id", "")): float((r.metrics or {}).get("time_total_s", 0.0)) for r in results
    }
    if client is not None:
        for run in client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent}'"):
            trial = run.data.tags.get("ray.trial_id", "")
            if trial in per_trial:
                s = per_trial[trial]
                client.log_metric(run.info.run_id, "cost_cpu_seconds", round(s * cpus_per_trial, 1))
                client.log_metric(run.info.run_id, "cost_gpu_seconds", round(s * gpus_per_trial, 1))
    seconds = sum(per_trial.values())
    return {
        "trial_seconds": round(seconds, 1),
        "trial_cpu_seconds": round(seconds * cpus_per_trial, 1),
        "trial_gpu_seconds": round(seconds * gpus_per_trial, 1),
    }


def tune_and_log(
    ds: config_mod.DatasetConfig,
    commit: str,
    airflow_run_id: str,
    num_samples: int,
    max_epochs: int,
    gpus_per_trial: float,
    seed: int,
    train_label_noise: float,
) -> TrainResult:
    import mlflow
    import ray
    import torch
    from ray import tune

    from ..ml import models

    t0 = time.monotonic()
    # raises SplitUnfit (no retry) before any training when a class misses a split
    budget = ds.tune.train_budget_mb
    splits = dataset.load_splits(ds, commit, lakefs_io.client_from_env(), record=True, budget_mb=budget)
    if splits.nights is not None:
        print(
            f"read the newest {len(splits.nights)} night{'s' * (len(splits.nights) != 1)} "
            f"({splits.since()} .. {splits.nights[0]}): they fill "
            f"tune.train_budget_mb {budget:g} with every class in every split; older nights were not read",
            flush=True,
        )
    print(f"samples: {splits.sources()}", flush=True)
    val = splits["val"]
    available = splits["train"]
    sample_bytes = int(available.x[0].nbytes) if len(available) else 0
    train_index = training.within_budget(available.y, sample_bytes, budget, seed)
    train = available.subset(train_index)
    if len(train) < len(available):
        print(
            f"training split {len(available)} samples ({len(available) * sample_bytes / 2**20:.0f} MB) is over "
            f"tune.train_budget_mb {budget:g}: a class-stratified sample of {len(train)} "
            f"(seed {seed}) is trained on",
            flush=True,
        )
    # testing knob: systematic mislabelling makes a deliberately worse candidate; the holdout stays clean
    train_y = training.noisy_labels(train.y, train_label_noise, len(ds.labels), seed)
    mean, std = features.channel_stats(train.x)
    loss_weights = training.class_weights(train_y, len(ds.labels), ds.tune.class_weights)
    counts = features.class_counts({**splits.parts, "train": train}, ds.labels)  # what is trained on
    print(
        f"data {ds.repository}@{commit[:12]}: "
        + ", ".join(f"{k}={len(v)}" for k, v in splits.items())
        + f" samples; loaded in {time.monotonic() - t0:.1f}s\n"
        + f"split {splits.plan.describe()} ({splits.plan.reason})\n"
        + (
            f"{splits.flat_windows_dropped} windows with a flat channel left out (validation.constant_channel)\n"
            if splits.flat_windows_dropped
            else ""
        )
        + "samples per class (train/val/holdout): "
        + ", ".join(f"{lab} {'/'.join(str(counts[s][lab]) for s in features.SPLITS)}" for lab in ds.labels),
        flush=True,
    )
    # what the trials read for themselves, and all the driver keeps of the samples from here on
    samples = {
        "dataset": ds,
        "shards": splits.shards(),
        "positions": {"train": splits.shard_positions("train", train_index), "val": splits.shard_positions("val")},
        "fingerprints": {"train": dataset.fingerprint(train), "val": dataset.fingerprint(val)},
        "train_y": train_y,
    }
    n_train, n_available, n_val, example = len(train), len(available), len(val), train.x[:2].copy()
    plan, since, flat_dropped = splits.plan, splits.since(), splits.flat_windows_dropped
    del splits, available, train, val

    mlflow.set_experiment(ds.experiment)
    select = SELECT_METRIC[ds.gate.metric]
    with mlflow.start_run(run_name=f"candidate {airflow_run_id}") as parent:
        mlflow.set_tags(
            {
                "lakefs.repo": ds.repository,
                "lakefs.commit": commit,
                "airflow.dag_id": ds.dag_id,
                "airflow.run_id": airflow_run_id,
                "role": "candidate",
                "samples.cut": dataset.SAMPLES_CUT,  # how its windows were cut (make reproduce checks it)
                # config and knobs: a later night on the same data with the same one would train the same
                "training.fingerprint": config_mod.training_fingerprint(
                    ds, num_samples, max_epochs, gpus_per_trial, seed, train_label_noise
                ),
            }
        )
        mlflow.log_params(
            {
                "num_samples": num_samples,
                "max_epochs": max_epochs,
                "gpus_per_trial": gpus_per_trial,
                "train_samples": n_train,
                "train_samples_available": n_available,
                "train_budget_mb": ds.tune.train_budget_mb,
                # the oldest night read ("" = every night at the commit): make reproduce reads the same
                "train_data_since": since,
                "val_samples": n_val,
                "train_label_noise": train_label_noise,
                "patience": ds.tune.patience,
                "class_weights": ds.tune.class_weights,
                "split_unit": plan.unit,
                "split_block_seconds": plan.block_seconds or "",
                "flat_windows_dropped": flat_dropped,
            }
        )
        mlflow.log_metrics({f"train_support_{lab}": float(counts["train"][lab]) for lab in ds.labels})
        inputs = {
            **samples,
            "mean": mean,
            "std": std,
            "labels": ds.labels,
            "augment": ds.augment,
            "max_epochs": max_epochs,
            "patience": ds.tune.patience,
            "select": select,
            "loss_weights": loss_weights,
            "cpus_per_trial": ds.tune.cpus_per_trial,
            "mixed_precision": ds.tune.mixed_precision,
            "experiment_id": parent.info.experiment_id,
            "parent_run_id": parent.info.run_id,
        }
        space = tune_space(ds.tune.space)
        space["seed"] = seed
        trainable = tune.with_resources(
            tune.with_parameters(train_trial, inputs=inputs), trial_resources(ds.tune.cpus_per_trial, gpus_per_trial)
        )
        tuner = search(
            trainable,
            space,
            num_samples=num_samples,
            seed=seed,
            select=select,
            name=f"{ds.name}-{parent.info.run_id[:8]}",
            max_failures=ds.tune.max_failures,
        )
        results = tuner.fit()
        close_trial_runs(mlflow.MlflowClient(), parent.info.experiment_id, parent.info.run_id, results)
        checkpoint, metrics, config = best_checkpoint(results, select)
        hp = {k: v for k, v in config.items() if k != "seed"}
        with checkpoint.as_directory() as d:
            state = torch.load(Path(d) / "state.pt", weights_only=False)
        model = models.build(hp, example.shape[1:], len(ds.labels), mean, std)
        model.load_state_dict(state["model"])
        model.eval()
        best_metrics = {f"best_{k}": float(metrics[k]) for k in ("val_accuracy", "val_macro_f1")}
        cost = trial_cost(
            results,
            ds.tune.cpus_per_trial,
            gpus_per_trial,
            mlflow.MlflowClient(),
            parent.info.experiment_id,
            parent.info.run_id,
        )
        mlflow.log_metrics({f"cost_{k}": v for k, v in cost.items()})
        mlflow.log_params({f"best_{k}": v for k, v in hp.items()})
        # what a reproduction needs beyond the hyperparameters (make reproduce, dvc.yaml)
        mlflow.log_params({"seed": seed, "best_epoch": int(state["epoch"]) + 1})
        mlflow.log_metrics(best_metrics)
        mlflow.set_tag("best_trial_run_id", state["mlflow_run_id"])
        mlflow.pytorch.log_model(
            model,
            name="model",
            input_example=example,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
        result: TrainResult = {
            "run_id": parent.info.run_id,
            "commit": commit,
            "experiment_id": parent.info.experiment_id,
            "best_config": hp,
            "trials": len(results),
            "trial_errors": results.num_errors,
            "best_val_accuracy": best_metrics["best_val_accuracy"],
            "best_val_macro_f1": best_metrics["best_val_macro_f1"],
            "seconds": round(time.monotonic() - t0, 1),
            "ray_version": ray.__version__,
            "split": plan.describe(),
            "samples": counts,
            "cost": cost,
        }
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ray Tune training job for one dataset at one lakeFS commit.")
    parser.add_argument("--dataset", required=True, help="entry name in include/datasets.yaml")
    parser.add_argument("--commit", required=True, help="immutable lakeFS commit id to train on")
    parser.add_argument("--airflow-run-id", required=True, help="lineage: the Airflow DAG run")
    parser.add_argument("--num-samples", type=int, help="trials (default: the config's tune.num_samples)")
    parser.add_argument("--max-epochs", type=int, help="epochs per trial (default: tune.max_epochs)")
    parser.add_argument("--gpus-per-trial", type=float, help="GPUs per trial, fractional allowed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-label-noise", type=float, default=0.0, help="testing knob: randomise this fraction of training labels"
    )
    args = parser.parse_args(argv)
    ds = config_mod.get(args.dataset)
    result = tune_and_log(
        ds,
        args.commit,
        args.airflow_run_id,
        args.num_samples or ds.tune.num_samples,
        args.max_epochs or ds.tune.max_epochs,
        ds.tune.gpus_per_trial if args.gpus_per_trial is None else args.gpus_per_trial,
        args.seed,
        args.train_label_noise,
    )
    emit_result(result)


if __name__ == "__main__":
    run_job(main)
