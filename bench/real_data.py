"""Real datasets at full size, landed through the data contract and trained by the real jobs.

Each case lands a real dataset that ships inside a registry package (nothing is downloaded) into
the S3 landing zone as a user's export would hold it, runs the ingest, validate and publish steps
into lakeFS, the Ray Tune training job and the evaluation job on the local stack, with the
dataset's default config (an entry that gives only channels or size, labels, window and a floor).
It prints holdout macro-F1 and accuracy beside the best published figure for the dataset and a
simple scikit-learn baseline fitted in the same run on the same split (train + val -> holdout).

    make up; PYTHONPATH=. .venv/bin/python bench/real_data.py [--cases motions_watches digits]

Cases:
  motions_watches  BasicMotions (UEA archive, in sktime): 80 real 10 s smartwatch recordings,
                   6 channels at 10 Hz, 4 activities; each recording one watch (split by asset).
                   Published: accuracy 1.00 (ROCKET, HIVE-COTE and others in Ruiz et al., "The
                   great multivariate time series classification bake off", DMKD 35, 2021; UEA
                   train/test split).
  motions_stream   The same 80 recordings as 4 watches streaming back to back (split by time).
  digits           scikit-learn's handwritten digits (UCI optdigits test set): 1797 8x8 images of
                   10 digits, written as 8-bit, 16-bit, RGBA and palette PNGs.
                   Published: accuracy 0.97 (scikit-learn's "Recognizing hand-written digits"
                   example, SVC(gamma=0.001), first half -> second half).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack import nightly, real_data
from devstack.services import stack_from_env
from include.retrain import config

DATE = "2026-08-01"
PUBLISHED = {
    "motions_watches": ("accuracy 1.00", "Ruiz et al. 2021 (ROCKET, HIVE-COTE), UEA split"),
    "motions_stream": ("accuracy 1.00", "as above, on whole recordings"),
    "digits": ("accuracy 0.97", "scikit-learn example, SVC(gamma=0.001), 50/50 split"),
}


def _motions_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "modality": "sensor",
        "landing": {"bucket": "landing", "prefix": name},
        "sensor": {
            "channels": real_data.BASIC_MOTIONS_CHANNELS,
            "labels": ["badminton", "running", "standing", "walking"],
            "window": 50,
            "stride": 25,
        },
        "gate": {"floor": 0.8},
    }


def case(name: str, suffix: str) -> tuple[config.DatasetConfig, dict[str, bytes]]:
    """The dataset entry (defaults everywhere a user would leave them) and its landing files."""
    from datetime import UTC, datetime

    start = datetime.fromisoformat(DATE).replace(hour=8, tzinfo=UTC)
    ds_name = f"bench_{name}_{suffix}"
    if name == "motions_watches":
        files = real_data.device_csvs(real_data.basic_motions_fleet(80, start=start))
        return config.DatasetConfig.model_validate(_motions_entry(ds_name)), files
    if name == "motions_stream":
        files = real_data.device_csvs(real_data.basic_motions_fleet(4, start=start))
        return config.DatasetConfig.model_validate(_motions_entry(ds_name)), files
    if name == "digits":
        entry = {
            "name": ds_name,
            "modality": "image",
            "landing": {"bucket": "landing", "prefix": ds_name},
            "image": {"size": [8, 8], "labels": [str(d) for d in range(10)]},
            "gate": {"floor": 0.8},
        }
        files = {k.split("/", 1)[1]: v for k, v in real_data.digit_pngs(10_000, DATE).items()}
        return config.DatasetConfig.model_validate(entry), files
    raise SystemExit(f"unknown case {name!r}; choose from {', '.join(PUBLISHED)}")


def baseline(ds: config.DatasetConfig, commit: str, stack: Any) -> tuple[float, float, str]:
    """(macro-F1, accuracy, what) of a scikit-learn model on the same split: logistic regression on
    raw pixels for images, on per-channel mean, std, min and max of each window for sensors."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from include.retrain.lake import lakefs_io
    from include.retrain.ml import dataset

    split = dataset.load_splits(ds, commit, lakefs_io.client(stack.lakefs_endpoint()))

    def feats(x: np.ndarray) -> np.ndarray:
        if x.ndim == 4:
            return x.reshape(len(x), -1)
        return np.concatenate([x.mean(-1), x.std(-1), x.min(-1), x.max(-1)], axis=1)

    fit_x = np.concatenate([feats(split["train"].x), feats(split["val"].x)])
    fit_y = np.concatenate([split["train"].y, split["val"].y])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(fit_x, fit_y)
    pred = model.predict(feats(split["holdout"].x))
    y = split["holdout"].y
    what = "logistic regression on raw pixels" if ds.modality == "image" else "logistic regression on window stats"
    return float(f1_score(y, pred, average="macro")), float(accuracy_score(y, pred)), what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(PUBLISHED), choices=list(PUBLISHED))
    parser.add_argument("--num-samples", type=int, help="trials (default: the config's, 4)")
    args = parser.parse_args()
    stack = stack_from_env(out=lambda _: None)
    if not stack.is_up():
        raise SystemExit("the local stack is not up: run `make up` first")
    suffix = time.strftime("%m%d%H%M")
    rows = []
    for name in args.cases:
        ds, files = case(name, suffix)
        t0 = time.monotonic()
        commit = nightly.publish_files(stack, ds, DATE, f"bench__{name}", files)
        with tempfile.TemporaryDirectory() as tmp:
            datasets_file = nightly.write_datasets_file(Path(tmp) / "datasets.yaml", ds)
            extra = f" --num-samples {args.num_samples}" if args.num_samples else ""
            train = f"python -m include.retrain.jobs.train --dataset {ds.name} --commit {commit} --airflow-run-id bench"
            trained, _ = nightly.wait_job(*nightly.submit_job(stack, datasets_file, train + extra, f"{name}-{suffix}"))
            run_id = trained["run_id"]
            evaluate = (
                f"python -m include.retrain.jobs.evaluate --dataset {ds.name} --commit {commit} --run-id {run_id}"
            )
            scored, _ = nightly.wait_job(*nightly.submit_job(stack, datasets_file, evaluate, f"{name}-{suffix}-eval"))
        scores = scored["scores"]
        base_f1, base_acc, base_what = baseline(ds, commit, stack)
        rows.append(
            (
                name,
                trained["split"],
                sum(trained["samples"]["holdout"].values()),
                scores["holdout_macro_f1"],
                scores["holdout_accuracy"],
                f"{base_f1:.3f} / {base_acc:.3f} ({base_what})",
                "{} ({})".format(*PUBLISHED[name]),
                time.monotonic() - t0,
            )
        )
        print(
            f"{name}: macro-F1 {scores['holdout_macro_f1']:.3f}, accuracy {scores['holdout_accuracy']:.3f}", flush=True
        )
    print()
    print(
        "| case | split | holdout samples | macro-F1 | accuracy | same-split baseline macro-F1 / accuracy "
        "| published | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, split, n, f1, acc, base, published, seconds in rows:
        print(f"| {name} | {split} | {n} | **{f1:.3f}** | {acc:.3f} | {base} | {published} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
