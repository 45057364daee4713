"""Trials placed where production places them, on the real three-node local Ray cluster.

The head runs only the job's driver; the two worker nodes declare one logical GPU each and the
``retrain-worker`` resource every trial asks for. The real training job runs through the Jobs API.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from include.retrain import config
from include.retrain.jobs import submission
from tests.integration.conftest import dataset_copy, publish_partition, submit_job, wait_job


def _train(stack: Any, ds: config.DatasetConfig, commit: str, run_id: str, tmp: Path, extra: str) -> tuple[Any, str]:
    entry = f"python -m include.retrain.jobs.train --dataset {ds.name} --commit {commit} --airflow-run-id {run_id}"
    return submit_job(stack, ds, entry + extra, run_id, tmp)


def _nodes(stack: Any) -> dict[str, bool]:
    """node id -> is the head, of the cluster's live nodes."""
    from ray.util.state import list_nodes

    # the state API counts dead nodes in its total and calls the filtered answer "truncated"
    nodes = list_nodes(
        address=stack.config.url("ray_dashboard"), filters=[("state", "=", "ALIVE")], raise_on_missing_output=False
    )
    return {n.node_id: n.is_head_node for n in nodes}


def _node_of_a_trial_mid_way(stack: Any, ds: config.DatasetConfig, max_epochs: int) -> str | None:
    """The worker node (its name: the stack's service name) of a trial that has reported at least 2 epochs and
    at most half of its ``max_epochs``, so that the kill lands mid-search: a trial actor alive is not enough,
    a reused actor outlives its trial and a trial at its last epoch would be restored with nothing left to do."""
    from mlflow import MlflowClient
    from ray.util.state import list_nodes

    mlflow = MlflowClient(stack.config.url("mlflow"))
    experiment = mlflow.get_experiment_by_name(ds.experiment)
    if experiment is None:
        return None
    names = {
        n.node_id: n.node_name
        for n in list_nodes(address=stack.config.url("ray_dashboard"), raise_on_missing_output=False)
    }
    for run in mlflow.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'"):
        node = names.get(run.data.tags.get("ray.node_id", ""), "")
        steps = [m.step for m in mlflow.get_metric_history(run.info.run_id, "val_accuracy")]
        if node.startswith("ray-worker-") and 2 <= max(steps, default=0) <= max_epochs // 2:
            return node
    return None


def _trial_runs(stack: Any, result: dict) -> list[Any]:
    from mlflow import MlflowClient

    mlflow = MlflowClient(stack.config.url("mlflow"))
    return mlflow.search_runs([result["experiment_id"]], f"tags.mlflow.parentRunId = '{result['run_id']}'")


def _watch_trials(stack: Any, client: Any, sub: str) -> tuple[int, set[str]]:
    """While the job runs: the most trial actors alive at once, and the nodes they ran on."""
    from ray.util.state import list_actors

    most, on = 0, set()
    while submission.job_status(client, sub) not in submission.TERMINAL:
        alive = list_actors(
            address=stack.config.url("ray_dashboard"),
            filters=[("class_name", "=", "ImplicitFunc"), ("state", "=", "ALIVE")],
        )
        most = max(most, len(alive))
        on |= {a.node_id for a in alive}
        time.sleep(0.2)
    return most, on


def test_trials_run_on_the_workers_only_and_half_gpus_pack_two_per_worker(stack, endpoint, tmp_path):
    nodes = _nodes(stack)
    assert sorted(nodes.values()) == [False, False, True], nodes  # a head and two workers
    tune = {"cpus_per_trial": 0.25, "gpus_per_trial": 0.5, "num_samples": 4, "max_epochs": 12, "patience": 0}
    base = dataset_copy("pump_fleet", "placed_sensor")
    ds = base.model_copy(update={"tune": base.tune.model_copy(update=tune)})
    commit = publish_partition(stack, endpoint, ds, "2025-05-01", "ray__placement", assets=12, rows_per_segment=256)
    client, sub = _train(stack, ds, commit, "ray__placement", tmp_path, "")
    most, on = _watch_trials(stack, client, sub)
    result, _ = wait_job(client, sub)
    workers = {n for n, head in nodes.items() if not head}
    assert on <= workers, "a trial ran on the head"
    # where and when the trials ran, as each trial's MLflow run says (its node, its start and end):
    # the live watch above can miss short trials when the state API answers slowly under load
    runs = _trial_runs(stack, result)
    assert len(runs) == 4 and {r.data.tags["ray.node_id"] for r in runs} == workers, (
        "trials must spread over both workers and never run on the head"
    )
    at_once = max(
        sum(o.info.start_time <= r.info.start_time < (o.info.end_time or float("inf")) for o in runs) for r in runs
    )
    assert at_once == 4, f"{at_once} trials at once (live watch: {most}): 0.5 GPU a trial packs two per worker's GPU"
    for r in runs:
        assert r.data.tags["ray.gpu_ids"] != "none" and r.data.tags["device"] == "cpu"  # logical GPUs, no CUDA


def test_a_worker_node_lost_mid_search_then_tune_finishes_on_the_other(stack, endpoint, tmp_path):
    base = dataset_copy("pump_fleet", "node_loss_sensor")
    assert base.tune.max_failures >= 1
    ds = base.model_copy(
        update={"tune": base.tune.model_copy(update={"num_samples": 2, "max_epochs": 30, "patience": 0})}
    )
    commit = publish_partition(stack, endpoint, ds, "2025-05-02", "ray__node_loss", assets=24, rows_per_segment=512)
    client, sub = _train(stack, ds, commit, "ray__node_loss", tmp_path, "")
    deadline = time.monotonic() + 240
    victim = None
    while victim is None:  # both trials have checkpointed: kill the whole node of a trial mid-way
        assert time.monotonic() < deadline, "the trials never checkpointed"
        assert submission.job_status(client, sub) not in submission.TERMINAL, "the search ended before the kill"
        checkpoints = list((stack.state / "tune").glob(f"{ds.name}-*/*/checkpoint_*"))
        if len({p.parent for p in checkpoints}) >= 2 and max(int(p.name.split("_")[1]) for p in checkpoints) >= 2:
            victim = _node_of_a_trial_mid_way(stack, ds, ds.tune.max_epochs)
        time.sleep(0.2)
    before = set(_nodes(stack))
    os.killpg(stack.pid(victim), signal.SIGKILL)
    try:
        result, _ = wait_job(client, sub)
    finally:
        stack.up()  # the node back, as a supervisor would (later tests need both)
    assert result["trial_errors"] == 0, result
    runs = _trial_runs(stack, result)
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    restored = [r for r in runs if "ray.restored_at_epoch" in r.data.tags]
    assert restored, f"no trial was restored after its node died; the job's log:\n{client.get_job_logs(sub)[-4000:]}"
    survivors = before & set(_nodes(stack))
    assert all(r.data.tags["ray.node_id"] in survivors for r in restored), "restored on a node that died"
    # a restored trial resumes from its checkpoint in the MLflow run it had: no epoch lost or doubled
    from mlflow import MlflowClient

    mlflow = MlflowClient(stack.config.url("mlflow"))
    for r in restored:
        resumed = int(r.data.tags["ray.restored_at_epoch"])
        history = [m.step for m in mlflow.get_metric_history(r.info.run_id, "val_accuracy")]
        assert 1 <= resumed < 30 and sorted(set(history)) == list(range(1, max(history) + 1)), (resumed, history)
