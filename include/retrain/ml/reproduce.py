"""Reproduce a registered model with DVC: the stages of ``dvc.yaml`` and the commands around them.

    python -m include.retrain.ml.reproduce prepare --model pump_fleet --version 3   # params.yaml from MLflow
    dvc repro                                                                # fetch -> train -> evaluate
    python -m include.retrain.ml.reproduce compare                                  # reproduced vs registered

``make reproduce MODEL=<name> VERSION=<n>`` runs all three against the local stack. The stages read
lakeFS through the LAKECTL_* variables and never write to MLflow; ``params.yaml`` holds no secret.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .. import config as config_mod

PARAMS = Path("params.yaml")
DATA = Path("repro/data.npz")
MODEL = Path("repro/model.pt")
METRICS = Path("repro/metrics.json")
HP_KEYS = ("lr", "width", "depth", "dropout", "batch_size")
# Trials train with one torch thread on CPU here; a reproduction on other hardware or thread
# counts may round differently, so the holdout metrics must agree within this (absolute).
DEFAULT_TOLERANCE = 0.05


def _read_params(path: Path = PARAMS) -> dict[str, Any]:
    params = yaml.safe_load(path.read_text()) or {}
    if not params.get("lakefs", {}).get("commit"):
        raise SystemExit(f"{path} names no model yet: run `make reproduce MODEL=<name> VERSION=<n>`")
    return dict(params)


def params_from_registry(client: Any, model: str, version: str) -> dict[str, Any]:
    """What reproducing ``model`` v``version`` takes, from its lineage tags and its training run."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version(model, version)
    except MlflowException as exc:
        raise SystemExit(f"model {model!r} has no version {version!r} in the MLflow registry ({exc})") from exc
    run = client.get_run(mv.run_id)
    p, m = run.data.params, run.data.metrics
    missing = [k for k in ("seed", "best_epoch", *(f"best_{h}" for h in HP_KEYS)) if k not in p]
    if missing or "lakefs.commit" not in mv.tags:
        raise SystemExit(f"{model} v{version} lacks the lineage to reproduce it (missing {missing or 'lakefs.commit'})")
    ds = config_mod.get(model)
    hp: dict[str, Any] = {}
    for key in HP_KEYS:
        raw = p[f"best_{key}"]
        hp[key] = int(raw) if key in ("width", "depth", "batch_size") else float(raw)
    return {
        "model": {"name": model, "version": int(version), "run_id": mv.run_id},
        "dataset": ds.name,
        "lakefs": {"repo": mv.tags.get("lakefs.repo", ds.repository), "commit": mv.tags["lakefs.commit"]},
        "train": {
            "seed": int(p["seed"]),
            "epochs": int(p["best_epoch"]),
            "label_noise": float(p.get("train_label_noise", 0.0)),
            "class_weights": p.get("class_weights", "none"),
            # models trained before the budget existed saw their whole training split
            "budget_mb": float(p["train_budget_mb"]) if "train_budget_mb" in p else None,
            # the oldest night the training read (absent or "": every night at the commit)
            "data_since": p.get("train_data_since") or None,
            "hp": hp,
        },
        # the oldest night whose holdout the evaluation scored (absent or "": every night at the commit)
        "holdout_since": run.data.tags.get("holdout.since") or None,
        # how its samples were cut (absent: across the nights read, before each night was cut alone)
        "samples_cut": run.data.tags.get("samples.cut", "across nights"),
        "registered": {k: float(m[k]) for k in ("holdout_accuracy", "holdout_macro_f1") if k in m},
        "tolerance": DEFAULT_TOLERANCE,
    }


def prepare(model: str, version: str, out: Path = PARAMS) -> dict[str, Any]:
    import mlflow

    params = params_from_registry(mlflow.MlflowClient(), model, version)
    header = f"# Written by `make reproduce MODEL={model} VERSION={version}` from the MLflow registry.\n"
    out.write_text(header + yaml.safe_dump(params, sort_keys=False))
    print(f"{out}: {model} v{version} at lakeFS {params['lakefs']['repo']}@{params['lakefs']['commit'][:12]}")
    from . import dataset

    if params["samples_cut"] != dataset.SAMPLES_CUT and config_mod.get(params["dataset"]).modality == "sensor":
        print(
            f"note: {model} v{version} had its windows cut {params['samples_cut']}; this code cuts them "
            f"{dataset.SAMPLES_CUT} (docs/design-notes.md), so its samples come in another order and a "
            "window that crossed midnight is gone: its metrics are compared within the tolerance all the same"
        )
    return params


def fetch() -> None:
    """Stage fetch: the dataset's samples at the pinned lakeFS commit, split as in training."""
    from ..lake import lakefs_io
    from . import dataset

    params = _read_params()
    ds = config_mod.get(params["dataset"])
    commit, clt = params["lakefs"]["commit"], lakefs_io.client_from_env()
    splits = dataset.load_splits(ds, commit, clt, since=params["train"].get("data_since"))
    holdout_since = params.get("holdout_since")
    if splits.nights is not None or holdout_since:  # the evaluation read other nights than the training
        splits.parts["holdout"] = dataset.load_holdout(ds, commit, clt, since=holdout_since)["holdout"]
    arrays = {f"{name}_{part}": getattr(s, part) for name, s in splits.items() for part in ("x", "y")}
    print(f"split {splits.plan.describe()} ({splits.plan.reason}); samples: {splits.sources()}")
    DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(DATA, labels=np.array(ds.labels), **arrays)
    print(f"{DATA}: " + ", ".join(f"{name}={len(s)}" for name, s in splits.items()))


def train() -> None:
    """Stage train: the registered trial's hyperparameters, seed and epochs, on one thread."""
    import torch

    from . import features, training

    params = _read_params()
    t = params["train"]
    arrays = np.load(DATA)
    labels = [str(x) for x in arrays["labels"]]
    ds = config_mod.get(params["dataset"])
    torch.set_num_threads(1)
    hp = {**t["hp"], "seed": t["seed"]}
    train_x, train_y = arrays["train_x"], arrays["train_y"]
    if t.get("budget_mb") is not None and len(train_y):
        keep = training.within_budget(train_y, int(train_x[0].nbytes), float(t["budget_mb"]), int(t["seed"]))
        train_x, train_y = train_x[keep], train_y[keep]
    train_y = training.noisy_labels(train_y, float(t["label_noise"]), len(labels), int(t["seed"]))
    mean, std = features.channel_stats(train_x)
    model, opt = training.new_model(hp, train_x, len(labels), mean, std)
    for report in training.epochs(
        model,
        opt,
        (train_x, train_y),
        (arrays["val_x"], arrays["val_y"]),
        labels,
        hp,
        ds.augment,
        0,
        t["epochs"],
        loss_weights=training.class_weights(train_y, len(labels), str(t.get("class_weights", "none"))),
    ):
        print(json.dumps(report), flush=True)
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "hp": hp, "mean": mean, "std": std, "labels": labels}, MODEL)


def evaluate() -> None:
    """Stage evaluate: holdout metrics of the reproduced model, into repro/metrics.json."""
    import torch

    from . import metrics, models

    arrays = np.load(DATA)
    state = torch.load(MODEL, weights_only=False)
    model = models.build(state["hp"], arrays["train_x"].shape[1:], len(state["labels"]), state["mean"], state["std"])
    model.load_state_dict(state["model"])
    model.eval()
    scores = metrics.summary(arrays["holdout_y"], models.predict(model, arrays["holdout_x"]), state["labels"])
    out = {"holdout_accuracy": scores["accuracy"], "holdout_macro_f1": scores["macro_f1"]}
    out["holdout_samples"] = len(arrays["holdout_y"])
    METRICS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{METRICS}: {out}")


def compare_metrics(registered: dict[str, float], reproduced: dict[str, float], tolerance: float) -> list[str]:
    """Lines of the comparison; the ones beyond tolerance start with 'DIFFERS'."""
    lines = []
    for key, want in registered.items():
        got = reproduced.get(key)
        ok = got is not None and abs(got - want) <= tolerance
        shown = "missing" if got is None else f"{got:.4f}"
        lines.append(f"{'ok     ' if ok else 'DIFFERS'} {key}: registered {want:.4f}, reproduced {shown}")
    return lines


def compare() -> bool:
    params = _read_params()
    reproduced = json.loads(METRICS.read_text())
    tol = float(params.get("tolerance", DEFAULT_TOLERANCE))
    m = params["model"]
    print(f"{m['name']} v{m['version']} reproduced from lakeFS {params['lakefs']['commit'][:12]} (tolerance {tol}):")
    lines = compare_metrics(params["registered"], reproduced, tol)
    print("\n".join("  " + line for line in lines))
    return not any(line.startswith("DIFFERS") for line in lines)


def reproduce(env: dict[str, str], model: str, version: str, workdir: Path) -> int:
    """prepare -> ``dvc repro`` -> compare in ``workdir`` (a DVC project holding dvc.yaml and include/)."""
    import subprocess

    def step(*cmd: str) -> int:
        print("+ " + " ".join(cmd), flush=True)
        return subprocess.run(cmd, cwd=workdir, env=env, check=False).returncode

    py = (sys.executable, "-m", "include.retrain.ml.reproduce")
    for cmd in ((*py, "prepare", "--model", model, "--version", version), ("dvc", "repro"), (*py, "compare")):
        rc = step(*cmd)
        if rc:
            return rc
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    prep = sub.add_parser("prepare", help="write params.yaml for a registered model version")
    prep.add_argument("--model", required=True, help="registered model name (= the dataset's name)")
    prep.add_argument("--version", required=True, help="model version number")
    sub.add_parser("fetch", help="stage: the dataset at the pinned lakeFS commit")
    sub.add_parser("train", help="stage: train with the registered hyperparameters")
    sub.add_parser("evaluate", help="stage: holdout metrics into repro/metrics.json")
    sub.add_parser("compare", help="reproduced vs registered metrics; exit 1 beyond tolerance")
    args = parser.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.model, args.version)
    elif args.cmd == "compare":
        return 0 if compare() else 1
    else:
        {"fetch": fetch, "train": train, "evaluate": evaluate}[args.cmd]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
