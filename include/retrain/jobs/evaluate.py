"""Ray job: score the candidate and the current champion on the same pinned holdout.

The holdout is every window whose asset hashes into the holdout split, read at
the candidate's lakeFS commit; both models see exactly the same windows.

    python -m include.retrain.jobs.evaluate --dataset pump_fleet --commit <id> --run-id <candidate run>
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import config as config_mod
from .. import data, metrics
from ..ray_jobs import emit_result


def confusion_png(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def misclassified_grid(
    x: np.ndarray, y: np.ndarray, pred: np.ndarray, labels: list[str], path: Path, limit: int = 24
) -> None:
    """Up to ``limit`` misclassified images, each titled true -> predicted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(x), limit)
    cols = min(n, 6)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        ax = axes.flat[i]
        ax.imshow(x[i, 0], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{labels[y[i]]} -> {labels[pred[i]]}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def champion(model_name: str) -> tuple[Any, str | None]:
    """The current champion model and its version, or (None, None) before the first promotion."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(model_name, "champion")
    except MlflowException:
        return None, None
    return mlflow.pytorch.load_model(f"models:/{model_name}@champion"), str(version.version)


def evaluate(ds: config_mod.DatasetConfig, commit: str, run_id: str) -> dict[str, Any]:
    import mlflow

    from .. import models

    holdout = data.load_splits(ds, commit, data.lakefs_client_from_env())["holdout"]
    if len(holdout) == 0:
        raise SystemExit(f"the holdout at {commit[:12]} is empty: add assets (the split hashes asset ids)")
    labels = ds.labels
    candidate = mlflow.pytorch.load_model(f"runs:/{run_id}/model")
    pred = models.predict(candidate, holdout.x)
    scores = metrics.summary(holdout.y, pred, labels)
    out: dict[str, Any] = {f"holdout_{k}": v for k, v in scores.items()}
    out["holdout_samples"] = len(holdout)
    champ, champ_version = champion(ds.model_name)
    if champ is not None:
        champ_scores = metrics.summary(holdout.y, models.predict(champ, holdout.x), labels)
        out["champion_holdout_accuracy"] = champ_scores["accuracy"]
        out["champion_holdout_macro_f1"] = champ_scores["macro_f1"]
    client = mlflow.MlflowClient()
    metric_values = {k: float(v) for k, v in out.items()}
    for k, v in metric_values.items():
        client.log_metric(run_id, k, v)
    client.set_tag(run_id, "champion.version", champ_version or "none")
    with tempfile.TemporaryDirectory() as d:
        png = Path(d) / "confusion_matrix.png"
        confusion_png(
            metrics.confusion(holdout.y, pred, len(labels)), labels, png, f"{ds.name} holdout (n={len(holdout)})"
        )
        client.log_artifact(run_id, str(png), "evaluation")
        wrong = np.flatnonzero(pred != holdout.y)
        if holdout.x.ndim == 4 and len(wrong):  # images: people would rather look than read
            grid = Path(d) / "misclassified.png"
            misclassified_grid(holdout.x[wrong], holdout.y[wrong], pred[wrong], labels, grid)
            client.log_artifact(run_id, str(grid), "evaluation")
    out["misclassified"] = len(wrong)
    out["champion_version"] = champ_version
    out["run_id"], out["experiment_id"] = run_id, client.get_run(run_id).info.experiment_id
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a candidate and the champion on the pinned holdout.")
    parser.add_argument("--dataset", required=True, help="entry name in include/datasets.yaml")
    parser.add_argument("--commit", required=True, help="lakeFS commit whose holdout to use")
    parser.add_argument("--run-id", required=True, help="the candidate's MLflow run (its model artifact)")
    args = parser.parse_args(argv)
    emit_result(evaluate(config_mod.get(args.dataset), args.commit, args.run_id))


if __name__ == "__main__":
    main()
