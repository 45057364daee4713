"""Ray job: score the candidate and the current champion on the same pinned holdout.

The holdout is every sample whose split unit (ml/splits.py) hashes into the holdout split, at
the candidate's lakeFS commit, from the newest nights that fill ``gate.holdout_budget_mb``: each
night's holdout shard (ml/derived.py), or for a night without one its files read one by one
(the other splits' rows let go as each file is read: memory follows the holdout, not the
commit); both models see exactly the same samples.

    python -m include.retrain.jobs.evaluate --dataset pump_fleet --commit <id> --run-id <candidate run>
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import config as config_mod
from ..handoffs import Evaluation
from ..lake import lakefs_io
from ..ml import dataset, features, metrics
from ..release import evidence, registry
from .submission import emit_result, run_job


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


def evaluate(ds: config_mod.DatasetConfig, commit: str, run_id: str) -> Evaluation:
    import datetime as dt

    import mlflow

    from ..ml import models

    evaluated_at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    # the split recorded by the training (SplitUnfit, no retry, if a class misses the holdout)
    started = time.monotonic()
    budget = ds.gate.holdout_budget_mb
    # record: the older nights the training did not read are cut once, their shards written
    split = dataset.load_holdout(ds, commit, lakefs_io.client_from_env(), budget_mb=budget, record=True)
    holdout = split["holdout"]
    print(
        f"holdout of {len(holdout)} samples, split {split.plan.describe()}, "
        f"read in {time.monotonic() - started:.1f}s: {split.sources()}",
        flush=True,
    )
    if split.nights is not None:
        print(
            f"the holdout of the newest {len(split.nights)} night{'s' * (len(split.nights) != 1)} "
            f"({split.since()} .. {split.nights[0]}) fills gate.holdout_budget_mb {budget:g} with every class; "
            "older nights were not read",
            flush=True,
        )
    labels = ds.labels
    candidate = mlflow.pytorch.load_model(f"runs:/{run_id}/model")
    pred = models.predict(candidate, holdout.x)
    scores = {f"holdout_{k}": v for k, v in metrics.summary(holdout.y, pred, labels).items()}
    support = features.label_counts(holdout, labels)
    scores |= {f"holdout_support_{lab}": float(n) for lab, n in support.items()}
    tracking = mlflow.MlflowClient()
    champ_version = registry.alias_version(tracking, ds.model_name, registry.CHAMPION)
    reference = registry.alias_version(tracking, ds.model_name, registry.REFERENCE)
    others = []
    for role, version in (("champion", champ_version), ("reference", reference)):
        if version is None or (role == "reference" and version == champ_version):
            continue
        other = models.predict(mlflow.pytorch.load_model(f"models:/{ds.model_name}/{version}"), holdout.x)
        other_scores = metrics.summary(holdout.y, other, labels)
        scores[f"{role}_holdout_accuracy"] = other_scores["accuracy"]
        scores[f"{role}_holdout_macro_f1"] = other_scores["macro_f1"]
        others.append((role, version, other))
    ev = evidence.gate_evidence(
        ds.gate.metric,
        holdout.y,
        pred,
        holdout.keys,
        labels,
        others,
        split.plan.unit_name(),
        ds.gate.confidence,
        ds.gate.resamples,
    )
    scores[f"{ds.gate.metric}_low"], scores[f"{ds.gate.metric}_high"] = ev["candidate"]["low"], ev["candidate"]["high"]
    for c in ev["against"]:
        scores[f"delta_{c['role']}_low"], scores[f"delta_{c['role']}_high"] = (
            c["difference"]["low"],
            c["difference"]["high"],
        )
    client = mlflow.MlflowClient()
    for k, v in {**scores, "holdout_samples": float(len(holdout))}.items():
        client.log_metric(run_id, k, float(v))
    # the oldest night whose holdout was scored ("" = every night at the commit): make reproduce reads the same
    client.set_tag(run_id, "holdout.since", split.since())
    client.set_tag(run_id, "champion.version", champ_version or "none")
    client.set_tag(run_id, "reference.version", reference or "none")
    client.log_dict(run_id, ev, "evaluation/evidence.json")
    with tempfile.TemporaryDirectory() as d:
        png = Path(d) / "confusion_matrix.png"
        matrix = metrics.confusion(holdout.y, pred, len(labels))
        metrics.confusion_png(matrix, labels, png, f"{ds.name} holdout (n={len(holdout)})")
        client.log_artifact(run_id, str(png), "evaluation")
        wrong = np.flatnonzero(pred != holdout.y)
        if holdout.x.ndim == 4 and len(wrong):  # images: people would rather look than read
            grid = Path(d) / "misclassified.png"
            misclassified_grid(holdout.x[wrong], holdout.y[wrong], pred[wrong], labels, grid)
            client.log_artifact(run_id, str(grid), "evaluation")
    return {
        "run_id": run_id,
        "experiment_id": client.get_run(run_id).info.experiment_id,
        "holdout_samples": len(holdout),
        "misclassified": len(wrong),
        "champion_version": champ_version,
        "evaluated_at": evaluated_at,
        "scores": scores,
        "evidence": ev,  # type: ignore[typeddict-item]
        "confusion": matrix.tolist(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a candidate and the champion on the pinned holdout.")
    parser.add_argument("--dataset", required=True, help="entry name in include/datasets.yaml")
    parser.add_argument("--commit", required=True, help="lakeFS commit whose holdout to use")
    parser.add_argument("--run-id", required=True, help="the candidate's MLflow run (its model artifact)")
    args = parser.parse_args(argv)
    emit_result(evaluate(config_mod.get(args.dataset), args.commit, args.run_id))


if __name__ == "__main__":
    run_job(main)
