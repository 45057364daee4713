"""Publish a candidate to the MLflow registry: version, lineage tags, aliases.

Order matters for "nothing half-published": the version and its tags come first,
then ``challenger``, and ``champion`` last, only on a pass. A retry finds the
version already registered for the run and converges instead of adding another.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

from .gate import GateDecision

CHAMPION, CHALLENGER = "champion", "challenger"
log = logging.getLogger(__name__)


def git_sha(root: Path | None = None) -> str:
    root = root or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def register_candidate(client: Any, model_name: str, run_id: str) -> str:
    """The registry version of the run's model, registering it on first call."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description=f"Retrained by Airflow DAG retrain_{model_name}")
    existing = client.search_model_versions(f"name='{model_name}' and run_id='{run_id}'")
    if existing:
        return str(existing[0].version)
    return str(mlflow.register_model(f"runs:/{run_id}/model", model_name).version)


def publish(
    tracking_uri: str, model_name: str, run_id: str, lineage: dict[str, str], decision: GateDecision
) -> dict[str, Any]:
    """Register, tag and alias the candidate; returns ``{"version", "aliases", "previous_champion"}``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    version = register_candidate(client, model_name, run_id)
    tags = {
        **lineage,
        "gate.decision": decision.decision,
        "gate.reason": decision.reason,
        "gate.forced": str(decision.forced).lower(),
    }
    for k, v in tags.items():
        client.set_model_version_tag(model_name, version, k, v)
    for k in ("gate.decision", "gate.reason", "gate.forced"):
        client.set_tag(run_id, k, tags[k])
    try:
        previous = str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        previous = None
    aliases = []
    for alias in (CHALLENGER, CHAMPION) if decision.promote else (CHALLENGER,):
        if _move_alias(client, model_name, alias, version):
            aliases.append(alias)
    return {"version": version, "aliases": aliases, "previous_champion": previous}


def _move_alias(client: Any, model_name: str, alias: str, version: str) -> bool:
    """Point ``alias`` at ``version`` unless a newer version holds it already.

    A cleared, older run must never move an alias back over a newer model.
    """
    from mlflow.exceptions import MlflowException

    try:
        current = str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        current = None
    if current is not None and int(current) > int(version):
        log.warning("%s@%s is v%s, newer than v%s: left as it is", model_name, alias, current, version)
        return False
    client.set_registered_model_alias(model_name, alias, version)
    return True


def champion_version(tracking_uri: str, model_name: str) -> str | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow.MlflowClient(tracking_uri).get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None
