"""Command lines of the Ray jobs, as Jinja templates rendered by Airflow at run time."""

from __future__ import annotations

COMMIT = "{{ ti.xcom_pull(task_ids='publish_data')['commit'] }}"


def train(dataset: str) -> str:
    return (
        f"python -m include.retrain.jobs.train --dataset {dataset} --commit {COMMIT}"
        " --airflow-run-id '{{ run_id }}'"
        "{% if params.num_samples %} --num-samples {{ params.num_samples }}{% endif %}"
        "{% if params.max_epochs %} --max-epochs {{ params.max_epochs }}{% endif %}"
        "{% if params.gpus_per_trial is not none %} --gpus-per-trial {{ params.gpus_per_trial }}{% endif %}"
        "{% if params.train_label_noise %} --train-label-noise {{ params.train_label_noise }}{% endif %}"
    )


def evaluate(dataset: str) -> str:
    return (
        f"python -m include.retrain.jobs.evaluate --dataset {dataset} --commit {COMMIT}"
        " --run-id {{ ti.xcom_pull(task_ids='train')['result']['run_id'] }}"
    )
