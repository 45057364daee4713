"""A registered model reproduced with DVC from its lineage, as `make reproduce` does."""

from __future__ import annotations

import json
import shutil
import subprocess

import yaml

from include.retrain.ml import reproduce
from tests.conftest import ROOT
from tests.e2e.conftest import CAST


def test_dvc_reproduces_a_registered_models_holdout_metrics(stack, cast_nights, mlflow_client, tmp_path):
    version = str(cast_nights[-1]["model"]["version"])
    # a DVC project of its own (the checkout stays clean): dvc.yaml and the code its stages run
    shutil.copy(ROOT / "dvc.yaml", tmp_path)
    shutil.copytree(ROOT / "include", tmp_path / "include", ignore=shutil.ignore_patterns("__pycache__"))
    env = stack.repro_env()
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=tmp_path, env=env, check=True)

    assert reproduce.reproduce(env, CAST.model_name, version, tmp_path) == 0  # compare exits 1 beyond tolerance

    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    mv = mlflow_client.get_model_version(CAST.model_name, version)
    assert params["lakefs"]["commit"] == mv.tags["lakefs.commit"]
    run = mlflow_client.get_run(mv.run_id)
    assert params["train"]["hp"]["lr"] == float(run.data.params["best_lr"])
    assert params["train"]["epochs"] == int(run.data.params["best_epoch"])
    reproduced = json.loads((tmp_path / "repro" / "metrics.json").read_text())
    for key in ("holdout_accuracy", "holdout_macro_f1"):
        assert abs(reproduced[key] - run.data.metrics[key]) <= reproduce.DEFAULT_TOLERANCE, key
    # dvc knows the pipeline is now up to date: a second repro runs nothing
    again = subprocess.run(["dvc", "status"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert "up to date" in again.stdout
