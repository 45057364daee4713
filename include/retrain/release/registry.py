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

from ..config import PROJECT_ROOT
from ..handoffs import Drift, GateDecision

CHAMPION, CHALLENGER = "champion", "challenger"
# The pinned reference the gate also holds every candidate against (no ratchet): moved only by a
# person's approval, by the first model, or by a candidate better than it with confidence.
REFERENCE = "reference"
# Registered-model tag: when `champion` last moved, on purpose (a gate or a rollback), in ISO time.
CHAMPION_MOVED_AT = "champion.moved_at"
log = logging.getLogger(__name__)


def is_missing(exc: Exception) -> bool:
    """Whether an MLflow error only says "no such registered model / alias / version".

    Every other error (the server down, no permission, a bug) must fail the task, not read as
    "no champion yet", which would skip the comparison with the champion.
    """
    code = getattr(exc, "error_code", "")
    if code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return code == "INVALID_PARAMETER_VALUE" and "not found" in str(getattr(exc, "message", exc))


def model_exists(client: Any, model_name: str) -> bool:
    """Whether the registered model exists. A search, not a get: with MLflow's basic auth, a user
    asking for a model nobody registered gets 403 "Permission denied", not "not found"."""
    return bool(client.search_registered_models(filter_string=f"name = '{model_name}'", max_results=1))


def alias_version(client: Any, model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    if not model_exists(client, model_name):
        return None
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as exc:
        if is_missing(exc):
            return None
        raise


def git_sha(root: Path | None = None) -> str:
    root = root or PROJECT_ROOT
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def register_candidate(client: Any, model_name: str, run_id: str) -> str:
    """The registry version of the run's model, registering it on first call."""
    import mlflow

    if not model_exists(client, model_name):
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

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    version = register_candidate(client, model_name, run_id)
    cost = decision.get("cost") or {}
    gate_tags = {
        "gate.decision": decision["decision"],
        "gate.reason": decision["reason"][:5000],
        "gate.forced": str(decision["forced"]).lower(),
        "gate.decided_by": decision.get("decided_by", "gate"),
    }
    tags = {
        **lineage,
        **gate_tags,
        **{f"cost.{k}": str(cost[k]) for k in ("total_seconds", "trial_cpu_seconds", "trial_gpu_seconds") if k in cost},
    }
    for k, v in tags.items():
        client.set_model_version_tag(model_name, version, k, v)
    for k, v in gate_tags.items():
        client.set_tag(run_id, k, v)
    previous = alias_version(client, model_name, CHAMPION)
    reference = alias_version(client, model_name, REFERENCE)
    if not decision["promote"] and previous == version:
        log.warning(
            "%s v%s is rejected now but is the champion (an earlier try promoted it): it stays champion; "
            "trigger rollback_model to move the champion back",
            model_name,
            version,
        )
    aliases = []
    for alias in (CHALLENGER, CHAMPION) if decision["promote"] else (CHALLENGER,):
        if _move_alias(client, model_name, alias, version, decision.get("evaluated_at")):
            aliases.append(alias)
    if CHAMPION in aliases and (why := reference_move(decision, reference)):
        client.set_registered_model_alias(model_name, REFERENCE, version)
        client.set_model_version_tag(model_name, version, "reference.reason", why)
        aliases.append(REFERENCE)
    elif reference == version:
        aliases.append(REFERENCE)
    return {"version": version, "aliases": aliases, "previous_champion": previous}


def reference_move(decision: GateDecision, reference: str | None) -> str | None:
    """Why a newly promoted version becomes the pinned reference, or None to keep the reference.

    It moves for the first model, for a person's approval, and for a candidate better than the
    reference with confidence -- never for one only "within the margin", so small losses cannot add up.
    """
    if reference is None:
        return "first reference (no reference yet)"
    who = decision.get("decided_by", "gate")
    if who.endswith("in the Airflow UI"):
        return f"approved by {who}"
    evidence = decision.get("evidence")
    for c in evidence["against"] if evidence else []:
        if c["version"] == reference and c["difference"]["low"] > 0:
            return (
                f"better than the reference v{reference} with confidence (Δ lower bound {c['difference']['low']:+.4f})"
            )
    return None


def _move_alias(client: Any, model_name: str, alias: str, version: str, evaluated_at: str | None) -> bool:
    """Point ``alias`` at ``version`` unless that would undo a later decision.

    A cleared, older run must never move an alias back: not over a newer version, and never
    ``champion`` away from a version that a rollback or another gate chose after this candidate's
    evidence was computed (``evaluated_at``): that evidence compared it with another champion.
    """
    import datetime as dt

    current = alias_version(client, model_name, alias)
    if current == version:
        return True
    if current is not None and int(current) > int(version):
        log.warning("%s@%s is v%s, newer than v%s: left as it is", model_name, alias, current, version)
        return False
    if alias == CHAMPION and evaluated_at:
        moved_at = (client.get_registered_model(model_name).tags or {}).get(CHAMPION_MOVED_AT)
        if moved_at and dt.datetime.fromisoformat(moved_at) > dt.datetime.fromisoformat(evaluated_at):
            log.warning(
                "%s@champion was moved to v%s at %s, after v%s was evaluated (%s): left as it is",
                model_name,
                current,
                moved_at,
                version,
                evaluated_at,
            )
            return False
    client.set_registered_model_alias(model_name, alias, version)
    if alias == CHAMPION:
        _record_champion_move(client, model_name)
    return True


def _record_champion_move(client: Any, model_name: str) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    client.set_registered_model_tag(model_name, CHAMPION_MOVED_AT, now)


def champion_version(tracking_uri: str, model_name: str) -> str | None:
    """The champion's version, or None before the first one; any other registry error raises."""
    import mlflow

    return alias_version(mlflow.MlflowClient(tracking_uri), model_name, CHAMPION)


class RollbackRefused(ValueError):
    """The requested rollback target does not exist or is not a model of this registry."""


def previous_champion(client: Any, model_name: str, current: str | None) -> str | None:
    """The newest version older than ``current`` that the gate promoted (the champion before it)."""
    versions = client.search_model_versions(f"name='{model_name}'")
    promoted = sorted(
        (
            int(v.version)
            for v in versions
            if (v.tags or {}).get("gate.decision") == "promote" and (current is None or int(v.version) < int(current))
        ),
        reverse=True,
    )
    return str(promoted[0]) if promoted else None


def rollback(tracking_uri: str, model_name: str, version: str, reason: str, who: str) -> dict[str, Any]:
    """Point ``champion`` at ``version`` (a number, or ``previous``) and record who, why and when.

    Raises:
        RollbackRefused: unknown model or version, or no earlier champion for ``previous``.
    """
    import datetime as dt

    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri)
    try:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name='{model_name}'"))
    except MlflowException as exc:
        if not is_missing(exc):
            raise
        raise RollbackRefused(f"model '{model_name}' is not registered: {exc}") from exc
    if not known:
        raise RollbackRefused(f"model '{model_name}' has no versions")
    current = champion_version(tracking_uri, model_name)
    if version == "previous":
        target = previous_champion(client, model_name, current)
        if target is None:
            raise RollbackRefused(f"model '{model_name}': no promoted version older than the champion v{current}")
    elif not version.isdigit() or int(version) not in known:
        raise RollbackRefused(
            f"model '{model_name}' has no version {version!r} (versions: {', '.join(map(str, known))}; or 'previous')"
        )
    else:
        target = version
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client.set_registered_model_alias(model_name, CHAMPION, target)
    _record_champion_move(client, model_name)
    record = {
        "rollback.by": who,
        "rollback.reason": reason,
        "rollback.at": when,
        "rollback.from_version": current or "none",
    }
    for k, v in record.items():
        client.set_model_version_tag(model_name, target, k, v)
    if current and current != target:
        client.set_model_version_tag(model_name, current, "rolled_back.reason", f"{when} by {who}: {reason}")
    log.warning("%s: champion moved v%s -> v%s by %s: %s", model_name, current, target, who, reason)
    return {"model": model_name, "from_version": current, "to_version": target, **record}


def champion_commit(tracking_uri: str, model_name: str) -> tuple[str, str] | None:
    """(version, lakeFS commit it was trained on) of the champion, or None before the first one."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    version = alias_version(client, model_name, CHAMPION)
    if version is None:
        return None
    v = client.get_model_version(model_name, version)
    commit = (v.tags or {}).get("lakefs.commit")
    return (str(v.version), commit) if commit else None


def champion_commit_quick(tracking_uri: str, model_name: str, timeout: float = 10.0) -> tuple[str, str] | None:
    """:func:`champion_commit` in one REST call, without importing mlflow (2 s in a task process).

    None on any doubt (no such model or alias, an error, MLflow basic auth answering 403 for a
    model that does not exist): callers use it only to skip work they would otherwise do.
    """
    body = _rest_get(tracking_uri, "registered-models/alias", {"name": model_name, "alias": CHAMPION}, timeout)
    version = (body or {}).get("model_version") or {}
    commit = _tags(version).get("lakefs.commit")
    return (str(version["version"]), str(commit)) if commit and version.get("version") else None


def newest_version_quick(tracking_uri: str, model_name: str, timeout: float = 10.0) -> dict[str, str] | None:
    """The newest registered version: its number, training commit, gate decision and reason, and
    its training run's ``training.fingerprint``; two REST calls, without importing mlflow.

    None on any doubt (no version, an error, a tag missing), as :func:`champion_commit_quick`.
    """
    found = _rest_get(
        tracking_uri,
        "model-versions/search",
        {"filter": f"name='{model_name}'", "order_by": "version_number DESC", "max_results": 1},
        timeout,
    )
    versions = (found or {}).get("model_versions") or []
    if not versions or not versions[0].get("run_id"):
        return None
    version, tags = versions[0], _tags(versions[0])
    run = _rest_get(tracking_uri, "runs/get", {"run_id": version["run_id"]}, timeout)
    run_tags = _tags(((run or {}).get("run") or {}).get("data") or {})
    out = {
        "version": str(version.get("version") or ""),
        "commit": tags.get("lakefs.commit", ""),
        "decision": tags.get("gate.decision", ""),
        "reason": tags.get("gate.reason", ""),
        "fingerprint": run_tags.get("training.fingerprint", ""),
    }
    return out if all(out.values()) else None


def _tags(entity: dict[str, Any]) -> dict[str, str]:
    return {t.get("key"): t.get("value") for t in entity.get("tags") or []}


def _rest_get(tracking_uri: str, path: str, params: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """GET ``/api/2.0/mlflow/<path>`` as the tasks' MLflow user; None on any error."""
    import os

    import requests

    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    try:
        resp = requests.get(
            f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/{path}",
            params=params,
            auth=(user, password or "") if user else None,
            timeout=timeout,
        )
        return dict(resp.json()) if resp.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


def log_drift(tracking_uri: str, experiment: str, run_id: str, drift: Drift) -> str:
    """Record drift figures as an MLflow run (role=drift) of the dataset's experiment; one per Airflow run."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    exp = mlflow.set_experiment(experiment)
    client = mlflow.MlflowClient(tracking_uri)
    found = client.search_runs(
        [exp.experiment_id], f"tags.role = 'drift' and tags.`airflow.run_id` = '{run_id}'", max_results=1
    )
    run = (
        found[0]
        if found
        else client.create_run(
            exp.experiment_id, run_name=f"drift {run_id}", tags={"role": "drift", "airflow.run_id": run_id}
        )
    )
    rid = run.info.run_id
    client.log_metric(rid, "drift_detected", float(drift["drift_detected"]))
    client.log_metric(rid, "unseen_files", float(drift["unseen_files"]))
    for name, f in drift.get("features", {}).items():
        client.log_metric(rid, f"drift_psi_{name}", min(float(f["psi"]), 1e6))
        client.log_metric(rid, f"drift_ks_{name}", float(f["ks"]))
        client.log_metric(rid, f"drift_ks_p_{name}", float(f["ks_p"]))
    client.log_dict(rid, dict(drift), "drift.json")
    client.set_terminated(rid)
    return str(rid)
