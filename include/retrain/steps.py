"""The steps of one nightly retraining run, as plain functions of plain values.

Each task of ``retrain_<dataset>`` calls one of these; no Airflow import here. Each is
idempotent: rerunning a step after a crash, a retry or a clear converges to the same lakeFS and
MLflow state.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from . import summary
from .config import DatasetConfig, TriggerParams
from .handoffs import (
    COST_STAGES,
    Candidate,
    Drift,
    ExaminedOnRay,
    GateDecision,
    Ingested,
    NothingToDo,
    Published,
    PublishedModel,
    RunLineage,
    RunResults,
    RunSummary,
    TrainingDecision,
    Validated,
)
from .jobs.submission import RayEndpoint
from .lake import guard, lakefs_io, quarantine
from .lake.ingest import ingest_partition
from .lake.lakefs_io import LakeFSEndpoint

log = logging.getLogger(__name__)


class ValidationFailed(RuntimeError):
    """The batch failed validation beyond tolerance; main is untouched, the branch kept."""


class EmptyPartition(RuntimeError):
    """The landing partition of the run's date has no objects."""


# -- write-audit-publish -----------------------------------------------------------------------
def ingest(ds: DatasetConfig, landing: Any, date: str, endpoint: LakeFSEndpoint, lineage: RunLineage) -> Ingested:
    """Copy partition ``dt=<date>`` of the landing prefix to the run branch (``landing``: a boto3 S3 client)."""
    result = ingest_partition(
        landing,
        ds.landing.bucket,
        ds.landing.prefix,
        date,
        endpoint,
        ds.repository,
        lakefs_io.run_branch_name(lineage.dag_id, lineage.run_id),
        max_bytes=int(ds.validation.max_file_mb * 2**20),
        ignore=ds.landing.ignore,
    )
    if result.listed == 0:
        raise EmptyPartition(
            f"dataset '{ds.name}': no objects under {result.source_uri} -- nothing landed for "
            f"{date}. Check the landing prefix in include/datasets.yaml or the upstream export."
        )
    if result.listed == len(result.ignored):
        raise EmptyPartition(
            f"dataset '{ds.name}': only export markers and sidecars under {result.source_uri} "
            f"({', '.join(k.rsplit('/', 1)[-1] for k in result.ignored[:5])}; landing.ignore) -- no data "
            f"landed for {date}. Did the export finish?"
        )
    if result.rejected:
        log.warning("rejected objects: %s", json.dumps(result.rejected))
    log.info(
        "ingest: %d copied (%.1f MB), %d unchanged on main, %d rejected, %d ignored in %.1fs",
        result.copied,
        result.bytes_copied / 1e6,
        result.skipped,
        len(result.rejected),
        len(result.ignored),
        result.seconds,
    )
    return result.as_dict()


def validate(
    ds: DatasetConfig,
    endpoint: LakeFSEndpoint,
    ingested: Ingested,
    lineage: RunLineage,
    ray: RayEndpoint | None = None,
) -> Validated:
    """Validate everything the run branch would bring into main; keep refused files in quarantine.

    What is checked is the branch's diff against main (normally this try's copies; after a crash,
    an earlier try's as well), so whatever a merge brings in has passed validation in this run.
    Files refused by an earlier run of the date (``refused_before``) and files rejected at ingest
    count as bad; files of the partition already on main count as good. Refused files are copied
    to the quarantine branch with the report, then removed from the run branch.

    Sensor files larger together than ``validation.spread_above_mb`` are examined by a Ray job on
    ``ray``'s cluster (``jobs/file_statistics.py``); the task judges them as it judges its own.
    """
    from .quality.checks import validate_files
    from .quality.report import FileResult, ValidationReport

    clt = lakefs_io.client(endpoint)
    repo = guard.ensure_dataset_repository(clt, ds.repository)
    if ingested["listed"] and not lakefs_io.branch_exists(repo, ingested["branch"]):
        return _published_report(clt, repo, ds, ingested, lineage.run_id)
    branch = repo.branch(ingested["branch"])
    sizes = lakefs_io.changed_objects(repo, branch.id, lakefs_io.DATA_PREFIX)
    paths = list(sizes)
    # streamed: each file is read, checked and dropped (bounded memory however large the batch)
    stream = lakefs_io.stream_objects(clt, ds.repository, branch.id, paths, sizes=sizes)
    files = ((p.removeprefix(lakefs_io.DATA_PREFIX), body) for p, body in stream)

    def reread(path: str) -> bytes:
        return lakefs_io.read_bytes(clt, ds.repository, branch.id, lakefs_io.DATA_PREFIX + path)

    empty = ValidationReport(ds.name, [], ds.validation.max_bad_fraction)
    limit = ds.validation.spread_above_mb
    spread = None
    if (
        paths
        and ray is not None
        and ds.sensor is not None
        and limit is not None
        and sum(sizes.values()) > limit * 2**20
    ):
        report, spread = _validate_on_ray(ds, ray, branch.id, lineage, paths, reread)
    else:
        report = validate_files(ds, files, reread) if paths else empty
    report.already_valid = ingested["skipped"]
    for key, reason in ingested["rejected"].items():  # unsafe landing keys count as bad files
        report.files.append(FileResult(key, 0, [reason]))
    for key in ingested["refused_before"]:
        report.files.append(
            FileResult(key, 0, [f"refused by an earlier run of this date: kept in {quarantine.BRANCH}"])
        )
    prefix = lakefs_io.report_prefix(lineage.dag_id, lineage.run_id)
    bad = [lakefs_io.DATA_PREFIX + f.path for f in report.bad if lakefs_io.DATA_PREFIX + f.path in set(paths)]
    validated: Validated = {
        **report.as_dict(),  # type: ignore[typeddict-item]
        "report": f"{prefix}/validation.json",
        "source_uri": ingested["source_uri"],
        "quarantined": bad,
        "quarantine": None,
        "files_to_merge": len(paths) - len(bad),
        "examined_on_ray": spread,
    }
    if bad:
        kept = json.dumps({**validated, "quarantine": {"branch": quarantine.BRANCH}}, indent=2).encode()
        validated["quarantine"] = quarantine.keep(repo, branch.id, bad, validated["report"], kept, lineage)
    if report.files:
        lakefs_io.upload(
            branch, validated["report"], json.dumps(validated, indent=2).encode(), content_type="application/json"
        )
        for rel, html in report.html_pages.items():
            lakefs_io.upload(branch, f"{prefix}/gx/{rel}", html.encode(), content_type="text/html")
    if not report.passed:
        lakefs_io.commit_if_changed(
            branch,
            f"validation FAILED for {ingested['source_uri']} (kept for inspection)",
            {"validation.passed": "false", "validation.report": validated["report"], "airflow.run_id": lineage.run_id},
        )
        held = validated["quarantine"]
        where = f"; the refused files are kept on {held['branch']}@{held['ref'][:12]}" if held else ""
        raise ValidationFailed(
            f"{report.failure_message()}\nReport: lakefs://{ds.repository}/{branch.id}/{validated['report']}; "
            f"main is untouched and branch '{branch.id}' is kept{where}. To rerun: fix or remove the refused "
            "files in the landing zone, then Clear the run (it starts again from main)."
        )
    if bad:
        branch.delete_objects(bad)
        log.warning("quarantined %d files: %s", len(bad), ", ".join(bad))
    return validated


def _validate_on_ray(
    ds: DatasetConfig, ray: RayEndpoint, branch: str, lineage: RunLineage, paths: list[str], reread: Any
) -> tuple[Any, ExaminedOnRay]:
    """The files examined by a Ray job, judged here: the report, and what the job did."""
    from .jobs.file_statistics import examine_on_ray
    from .quality.sensor import judge_sensor_files

    examined, spread = examine_on_ray(ray, ds, branch, lineage.run_id)
    listed = [p.removeprefix(lakefs_io.DATA_PREFIX) for p in paths]
    got = [ex.result.path for ex in examined]
    if got != listed:  # nothing but this run writes its branch: a difference is a defect, not data
        missing, extra = sorted(set(listed) - set(got)), sorted(set(got) - set(listed))
        raise RuntimeError(
            f"Ray job {spread['submission_id']} examined other files than the branch holds: "
            f"not examined {missing[:5]}, not on the branch {extra[:5]}; Clear the task to examine them again"
        )
    return judge_sensor_files(ds, ((None, ex) for ex in examined), reread), spread


def _published_report(clt: Any, repo: Any, ds: DatasetConfig, ingested: Ingested, run_id: str) -> Validated:
    """A cleared ``validate`` after the merge: the report this run already published."""
    commit = lakefs_io.find_run_commit(repo, run_id)
    if commit is None:
        raise RuntimeError(
            f"run branch '{ingested['branch']}' is gone and main has no merge of run {run_id}: "
            "clear the ingest task to copy the data again"
        )
    path = (repo.commit(commit).get_commit().metadata or {}).get("validation.report", "none")
    if path == "none":
        return {
            "dataset": ds.name,
            "passed": True,
            "files_total": 0,
            "files_bad": 0,
            "bad_fraction": 0.0,
            "max_bad_fraction": ds.validation.max_bad_fraction,
            "batch_reasons": [],
            "batch_warnings": [],
            "files": [],
            "gx_html": [],
            "already_on_main": ingested["skipped"],
            "report": "none",
            "source_uri": ingested["source_uri"],
            "quarantined": [],
            "quarantine": None,
            "files_to_merge": 0,
        }
    stored = json.loads(lakefs_io.read_bytes(clt, ds.repository, commit, path))
    # reports written before batch_warnings existed have none
    return {"quarantined": [], "quarantine": None, "batch_warnings": [], **stored, "files_to_merge": 0}  # type: ignore[typeddict-item]


def publish_data(
    ds: DatasetConfig, endpoint: LakeFSEndpoint, ingested: Ingested, validated: Validated, lineage: RunLineage
) -> Published:
    """Commit the branch, merge it into main, delete it; returns the immutable commit to train on.

    ``new_data`` is False when the run brought nothing new (a rerun): then nothing is committed
    and main's head is returned. A retry after a successful merge finds that merge again.
    """
    clt = lakefs_io.client(endpoint)
    repo = guard.ensure_dataset_repository(clt, ds.repository)
    name = ingested["branch"]
    kept = validated["files_to_merge"]
    if not lakefs_io.branch_exists(repo, name):
        earlier = lakefs_io.find_run_commit(repo, lineage.run_id)
        if earlier is None and kept > 0:
            raise RuntimeError(
                f"run branch '{name}' is gone and main has no merge of run "
                f"{lineage.run_id}: clear the ingest task to copy the data again"
            )
        head = earlier or str(repo.branch(lakefs_io.MAIN).head.get_commit().id)
        return {"commit": head, "new_data": earlier is not None, "repository": ds.repository}
    branch = repo.branch(name)
    if kept <= 0:
        lakefs_io.delete_branch(repo, name)
        head = str(repo.branch(lakefs_io.MAIN).head.get_commit().id)
        log.info("nothing new for %s: main stays at %s", ingested["source_uri"], head[:12])
        return {"commit": head, "new_data": False, "repository": ds.repository}
    metadata = {
        **lineage.commit_metadata(),
        "source.uri": ingested["source_uri"],
        "source.objects": str(kept),
        "validation.passed": str(validated["passed"]).lower(),
        "validation.report": validated["report"],
    }
    lakefs_io.commit_if_changed(branch, f"ingest {ingested['source_uri']}", metadata)
    head = lakefs_io.merge_into_main(repo, branch, f"merge {name} (validated)", metadata)
    lakefs_io.delete_branch(repo, name)
    log.info("merged %s into main at %s", name, head[:12])
    return {"commit": head, "new_data": True, "repository": ds.repository}


# -- drift and the training policy -----------------------------------------------------------
def check_drift(
    ds: DatasetConfig, endpoint: LakeFSEndpoint, tracking_uri: str, published: Published, threshold: float, run_id: str
) -> Drift:
    """Drift of what main holds beyond the champion's training commit; logged to MLflow (role=drift)."""
    from .quality import drift
    from .release import registry

    champion = registry.champion_commit(tracking_uri, ds.model_name)
    if champion is None:
        return drift.no_drift(threshold, "no champion yet", None, published["commit"])
    result = drift.unseen_drift(ds, lakefs_io.client(endpoint), champion[1], published["commit"], threshold)
    registry.log_drift(tracking_uri, ds.experiment, run_id, result)
    return result


def training_decision(
    new_data: bool,
    drift: Drift,
    champion: str | None,
    force_retrain: bool,
    ingest_only: bool,
    backfill: bool = False,
    rejected: str | None = None,
) -> str | None:
    """Why training is skipped, or None to train.

    Train when new data was merged, drift was detected in data the champion has not seen,
    no champion exists yet, or ``force_retrain``. ``ingest_only`` defers training, and so does
    every run of a backfill: its runs finish in any order, so training in each would make the
    champion depend on which gate ran last. The next scheduled run trains once on main.
    ``rejected``: with no champion, why the candidate this night would train was already
    rejected (:func:`rejected_on_main_data`); training it again would only repeat that.
    """
    if force_retrain:
        return None
    if ingest_only:
        return "ingest_only: data published, training deferred to a later run"
    if backfill:
        return (
            "backfill run: data published, training deferred to the next scheduled run "
            "(set force_retrain to train in a backfill)"
        )
    if new_data or drift.get("drift_detected"):
        return None
    if champion is None:
        return rejected
    worst = max((f["psi"] for f in drift.get("features", {}).values()), default=0.0)
    return (
        f"nothing new merged, no drift (max PSI {worst:.3f} <= {drift.get('threshold')}) "
        f"and champion v{champion} exists"
    )


def nothing_to_do(
    ds: DatasetConfig,
    endpoint: LakeFSEndpoint,
    tracking_uri: str,
    ingested: Ingested,
    params: TriggerParams,
    backfill: bool,
) -> NothingToDo | None:
    """What the rest of the night would conclude, when that is known after ingest; else None.

    A night has nothing to do when ingest copied nothing (every file of the partition is on main
    already), nothing was rejected or refused before (those must be reported as bad again), no
    earlier try left copies on the run branch, training is not forced, and the champion was
    trained on a commit whose data main still holds unchanged (with no champion: the newest
    candidate was, and was not promoted, :func:`rejected_on_main_data`). Validation would then check no
    file, the merge would bring nothing, drift would compare nothing and training would be
    skipped. The run branch is deleted, as the merge step would. Cheap checks first: a night
    that copied files never asks MLflow. When in doubt (MLflow unreachable), the night takes the
    full path, which reports the error where it belongs.
    """
    if ingested["copied"] or ingested["rejected"] or ingested["refused_before"] or params.force_retrain:
        return None
    from .quality.drift import no_drift
    from .release import registry

    clt = lakefs_io.client(endpoint)
    repo = guard.ensure_dataset_repository(clt, ds.repository)
    branch = ingested["branch"]
    if lakefs_io.branch_exists(repo, branch) and lakefs_io.changed_paths(repo, branch, lakefs_io.DATA_PREFIX):
        return None  # an earlier try copied files: they must be validated
    head = str(repo.branch(lakefs_io.MAIN).head.get_commit().id)
    champion = registry.champion_commit_quick(tracking_uri, ds.model_name)
    if champion is None:
        rejected = rejected_on_main_data(ds, clt, tracking_uri, head, params)
        if rejected is None:
            return None  # no champion (or MLflow could not say), nothing rejected: the full path trains
        version, unchanged = None, no_drift(params.drift_threshold, "no champion yet", None, head)
        reason = training_decision(False, unchanged, None, False, params.ingest_only, backfill, rejected)
    else:
        version, trained_on = champion
        if _data_changed(ds, clt, trained_on, head):
            return None  # main holds data the champion has not seen: drift decides
        unchanged = no_drift(params.drift_threshold, "nothing on main the champion has not seen", trained_on, head)
        reason = training_decision(False, unchanged, version, False, params.ingest_only, backfill=backfill)
    assert reason is not None  # neither forced nor new data, nor drift; a champion, or a rejected candidate
    lakefs_io.delete_branch(repo, branch)
    log.info("nothing to do: %s; validate .. promote are skipped", reason)
    return {
        "published": {"commit": head, "new_data": False, "repository": ds.repository},
        "drift": unchanged,
        "decision": {"train": False, "reason": reason, "champion_version": version},
    }


def _data_changed(ds: DatasetConfig, clt: Any, since: str, head: str) -> bool:
    """Whether main's data at ``head`` differs from that at commit ``since`` (a data file added,
    changed or removed; other commits, such as the split record, do not count)."""
    from .lake.formats import data_suffixes

    return since != head and bool(
        lakefs_io.changed_since(
            clt, ds.repository, since, head, lakefs_io.DATA_PREFIX, data_suffixes(ds.modality), limit=1
        )
    )


def rejected_on_main_data(
    ds: DatasetConfig, clt: Any, tracking_uri: str, head: str, params: TriggerParams
) -> str | None:
    """Why training again is pointless with no champion, or None.

    It is when the newest registered version was not promoted (the gate rejected it, or a person,
    or the approval's timeout) and was trained on the data main holds at ``head``, with the same
    dataset config and job knobs (``training.fingerprint``, :func:`~.config.training_fingerprint`):
    this night would train the same candidate and reach the same decision, or ask a person again.
    New data, drift, a config change or ``force_retrain`` train again. None on any doubt.
    """
    from .release import registry

    newest = registry.newest_version_quick(tracking_uri, ds.model_name)
    if newest is None or newest["decision"] == "promote":
        return None
    mine = params.fingerprint(ds)
    if newest["fingerprint"] != mine:
        log.info(
            "no champion; v%s (%s) was trained with another config or knobs (training.fingerprint %s, "
            "this night's %s): training",
            newest["version"],
            newest["decision"],
            newest["fingerprint"],
            mine,
        )
        return None
    if _data_changed(ds, clt, newest["commit"], head):
        log.info("no champion; main holds data v%s was not trained on: training", newest["version"])
        return None
    why = newest["reason"].splitlines()[0][:300]
    return (
        f"no champion, and candidate v{newest['version']} was trained on the data main holds with this "
        f"config and was not promoted ({why}); nothing new merged, so training again would repeat it. "
        "Set force_retrain to train anyway"
    )


def decide_training(
    ds: DatasetConfig,
    endpoint: LakeFSEndpoint,
    tracking_uri: str,
    published: Published,
    drift: Drift,
    params: TriggerParams,
    backfill: bool,
) -> TrainingDecision:
    from .release import registry

    champion = registry.champion_version(tracking_uri, ds.model_name)
    rejected = None
    if champion is None and not (published["new_data"] or drift.get("drift_detected") or params.force_retrain):
        rejected = rejected_on_main_data(ds, lakefs_io.client(endpoint), tracking_uri, published["commit"], params)
    skip = training_decision(
        published["new_data"], drift, champion, params.force_retrain, params.ingest_only, backfill, rejected
    )
    if skip:
        log.info("training skipped: %s", skip)
        return {"train": False, "reason": skip, "champion_version": champion}
    why = "forced" if params.force_retrain else ("new data merged" if published["new_data"] else "drift or no champion")
    log.info("training: %s (champion %s)", why, f"v{champion}" if champion else "none")
    return {"train": True, "reason": why, "champion_version": champion}


# -- gate and registry -------------------------------------------------------------------------
def gate(
    ds: DatasetConfig,
    endpoint: LakeFSEndpoint,
    tracking_uri: str,
    night: Candidate,
    params: TriggerParams,
    durations: dict[str, float],
    ui: tuple[str, str],
) -> GateDecision:
    """Decide on the evidence; log the cost and the model card to the candidate's run.

    ``durations``: seconds of this run's finished tasks (Airflow); ``ui``: the lakeFS and MLflow UIs.
    """
    import mlflow

    from . import urls
    from .release.gate import decide

    published, training, evaluation = night["published"], night["training"]["result"], night["evaluation"]["result"]
    if "evidence" not in evaluation:
        raise ValueError(
            "this run's evaluation was made before the gate decided on evidence: clear 'evaluate' "
            "(and the tasks after it) to score the candidate again"
        )
    decision = decide(
        evaluation["evidence"],
        ds.gate.floor,
        ds.gate.max_regression,
        ds.gate.recall_floors,
        params.force_promote,
        compared_with=evaluation["champion_version"],
        evaluated_at=evaluation["evaluated_at"],
    )
    log.info("gate: %s", decision["reason"])
    cost = run_cost(durations, training.get("cost", {}))
    client = mlflow.MlflowClient(tracking_uri)
    run_id = training["run_id"]
    for stage, seconds in cost["stages"].items():
        client.log_metric(run_id, f"cost_{stage}_seconds", seconds)
    if cost["stages"]:  # {} when Airflow's API could not be read: unknown, not 0
        client.log_metric(run_id, "cost_total_seconds", cost["total_seconds"])
    links = summary.run_links(ui[0], ui[1], published, None, training)
    card_url = urls.mlflow_artifact(ui[1], training["experiment_id"], run_id, "model_card/model_card.html")
    decision = {**decision, "cost": cost, "card_url": card_url}
    pending = (
        {"decided_by": "nobody yet: a person decides in the Airflow UI"}
        if decision["decision"] == "inconclusive"
        else {}
    )
    model_card(ds, endpoint, tracking_uri, night, {**decision, **pending}, cost, links)
    log.info("model card: %s", card_url)
    return decision


def approval_outcome(decision: GateDecision, approval: dict[str, Any] | None) -> GateDecision:
    """The final decision of an inconclusive gate after the ``approve`` task (a person or the timeout).

    ``approval`` is what the HITL task returned (chosen_options, responded_by_user, ...), None when
    the gate decided on its own.
    """
    if decision["decision"] != "inconclusive" or approval is None:
        return decision
    chosen = (approval.get("chosen_options") or ["Reject"])[0]
    user = approval.get("responded_by_user") or {}
    who = (
        f"{user.get('name') or user.get('id')} in the Airflow UI" if user else "timeout (no answer: the champion stays)"
    )
    promote = chosen == APPROVE
    outcome = "promote" if promote else "reject"
    reason = f"{outcome.upper()} by {who}, on inconclusive evidence. Gate: {decision['reason']}"
    return {**decision, "promote": promote, "decision": outcome, "reason": reason, "decided_by": who}  # type: ignore[typeddict-item]


APPROVE, KEEP = "Promote", "Reject"  # the options of the approve task


def publish_model(
    ds: DatasetConfig,
    endpoint: LakeFSEndpoint,
    tracking_uri: str,
    night: Candidate,
    gated: GateDecision,
    approval: dict[str, Any] | None,
    lineage: RunLineage,
    ui: tuple[str, str],
) -> PublishedModel:
    """Register the candidate with its lineage and final decision (the gate's, or a person's on an
    inconclusive gate); tag its training commit in lakeFS; write the final model card."""
    from .release import registry

    published, training = night["published"], night["training"]["result"]
    decision = approval_outcome(gated, approval)
    log.info("decision: %s", decision["reason"])
    tags = lineage.version_tags(ds.repository, published["commit"], registry.git_sha())
    out = registry.publish(tracking_uri, ds.model_name, training["run_id"], tags, decision)
    repo = lakefs_io.ensure_repository(lakefs_io.client(endpoint), ds.repository)
    lakefs_io.ensure_tag(repo, f"model-{ds.model_name}-v{out['version']}", published["commit"])
    model: PublishedModel = {
        "name": ds.model_name,
        "commit": published["commit"],
        "version": out["version"],
        "aliases": out["aliases"],
        "previous_champion": out["previous_champion"],
        "decision": decision,
    }
    if gated.get("card_url"):
        model["card_url"] = gated["card_url"]
        log.info("model card: %s", gated["card_url"])
    given = gated.get("cost") or run_cost({}, {})  # stages back in the order of the flow after XCom
    cost = {**given, "stages": {k: given["stages"][k] for k in COST_STAGES if k in given["stages"]}}
    links = summary.run_links(ui[0], ui[1], published, model, training)
    model_card(ds, endpoint, tracking_uri, night, decision, cost, links, out["version"])
    return model


# -- the run summary -----------------------------------------------------------------------------
def summarize(
    lineage: RunLineage,
    date: str,
    results: RunResults,
    lakefs_ui: str,
    mlflow_ui: str,
    durations: dict[str, float] | None = None,
) -> RunSummary:
    """The summary of what this try of the run did.

    ``durations`` (Airflow's task durations) give the cost of a night that made no candidate; a
    candidate's cost is the gate's, with its trials.

    Skipped tasks keep the results of a cleared earlier try, so the training side counts only
    when this try's ``decide_training`` chose to train, and the model only from the task the gate
    chose.
    """
    published, decision, gated = results["published"], results["decision"], results["gated"]
    training, evaluation, validated, drift = results["training"], results["evaluation"], None, None
    ingested = results.get("ingested")
    shortcut = ingested.get("nothing_to_do") if ingested else None
    if shortcut:  # the tasks between ingest and here were skipped: their results are an earlier try's
        published, decision, drift, gated = shortcut["published"], shortcut["decision"], shortcut["drift"], None
    else:
        validated, drift = results["validated"], results["drift"]
    trained = bool(decision and decision["train"])
    model = None
    if trained and gated:
        gated = approval_outcome(gated, results.get("approval"))  # a person's answer, if the gate asked
        model = results["promoted"] if gated["decision"] == "promote" else results["rejected"]
    train_result = training["result"] if trained and training else None
    links = summary.run_links(lakefs_ui, mlflow_ui, published, model, train_result)
    out = summary.build(
        dag_id=lineage.dag_id,
        run_id=lineage.run_id,
        date=date,
        published=published,
        validated=validated,
        drift=drift,
        skipped_reason=None if trained or decision is None else decision["reason"],
        training=training if trained else None,
        evaluation=evaluation["result"] if trained and evaluation else None,
        gated=gated if trained else None,
        model=model,
        links=links,
    )
    if "cost" not in out and durations:
        out["cost"] = run_cost(durations, {})
    return out


# -- cost and the model card -----------------------------------------------------------------------
def run_cost(durations: dict[str, float], trials: dict[str, float]) -> dict[str, Any]:
    """Seconds per stage (Airflow's task durations) and the trials' CPU- and GPU-seconds (Ray)."""
    stages = {s: float(durations[s]) for s in COST_STAGES if s in durations}
    return {
        "stages": stages,
        "total_seconds": round(sum(stages.values()), 1),
        "trial_cpu_seconds": float(trials.get("trial_cpu_seconds", 0.0)),
        "trial_gpu_seconds": float(trials.get("trial_gpu_seconds", 0.0)),
    }


def _describe_validation(validated: Validated | None) -> str:
    if not validated:
        return "not part of this run"
    kept = len(validated.get("quarantined", []))
    return (
        f"{validated['files_total']} files checked, {validated['files_bad']} refused"
        + (f" ({kept} quarantined)" if kept else "")
        + f", {validated.get('already_on_main', 0)} already on main"
    )


def _describe_drift(drift: Drift | None) -> str:
    if not drift:
        return "not checked"
    if drift.get("drift_detected"):
        return "DETECTED in " + ", ".join(drift.get("drifted", []))
    worst = max((f["psi"] for f in drift.get("features", {}).values()), default=0.0)
    note = f"; {drift['note']}" if drift.get("note") else ""
    return f"none (max PSI {worst:.3f} <= {drift.get('threshold')}{note})"


def _best_effort(fn: Any) -> Any:
    """The card documents a decision; failing to write it must not undo or block one (``promote``
    writes it after the aliases moved): log a warning instead of raising."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            log.warning("could not write the model card (the decision stands): %s", exc, exc_info=True)
            return None

    return wrapper


@_best_effort
def model_card(
    ds: DatasetConfig,
    endpoint: LakeFSEndpoint,
    tracking_uri: str,
    night: Candidate,
    decision: GateDecision,
    cost: dict[str, Any],
    links: dict[str, str],
    version: str | None = None,
) -> str:
    """Render the card and log it (Markdown and HTML) to the candidate's run; returns the card's path."""
    import tempfile
    from pathlib import Path

    import mlflow

    from .release import card
    from .release.gate import metric_name

    published, training, evaluation = night["published"], night["training"]["result"], night["evaluation"]["result"]
    client = mlflow.MlflowClient(tracking_uri)
    changes, champion_train = None, None
    champion = evaluation["champion_version"]
    if champion:
        v = client.get_model_version(ds.model_name, champion)
        since = (v.tags or {}).get("lakefs.commit")
        champion_metrics = client.get_run(str(v.run_id)).data.metrics
        champion_train = {
            lab: int(champion_metrics[f"train_support_{lab}"])
            for lab in ds.labels
            if f"train_support_{lab}" in champion_metrics
        } or None
        if since:
            repo = lakefs_io.ensure_repository(lakefs_io.client(endpoint), ds.repository)
            kinds = [c.type for c in repo.ref(since).diff(other_ref=published["commit"], prefix=lakefs_io.DATA_PREFIX)]
            changes = {k: kinds.count(k) for k in ("added", "changed", "removed")} | {"since": since}
    facts = {
        "model": ds.model_name,
        "version": version,
        "decision": decision,
        "dataset": ds.name,
        "modality": ds.modality,
        "repository": ds.repository,
        "commit": published["commit"],
        "validation": _describe_validation(night["validated"]),
        "drift": _describe_drift(night["drift"]),
        "changes": changes,
        "training": training,
        "labels": ds.labels,
        "samples": training["samples"],
        "champion_train": champion_train,
        "evidence": evaluation["evidence"],
        "conf": f"{evaluation['evidence']['confidence']:.0%}",
        "metric_label": metric_name(ds.gate.metric),
        "scores": evaluation["scores"],
        "confusion": evaluation["confusion"],
        "floor": ds.gate.floor,
        "margin": ds.gate.max_regression,
        "recall_floors": ds.gate.recall_floors,
        "budget": {
            "max_epochs": ds.tune.max_epochs,
            "patience": ds.tune.patience,
            "class_weights": ds.tune.class_weights,
        },
        "cost": cost,
        "links": links,
    }
    text, html = card.render(facts)
    with tempfile.TemporaryDirectory() as d:
        for name, body in ((card.MARKDOWN, text), (card.HTML, html)):
            (Path(d) / name).write_text(body)
            client.log_artifact(training["run_id"], str(Path(d) / name), card.ARTIFACT_DIR)
    if version:
        client.set_model_version_tag(ds.model_name, version, "model_card", f"{card.ARTIFACT_DIR}/{card.HTML}")
    log.info("model card written: %s/%s of MLflow run %s", card.ARTIFACT_DIR, card.HTML, training["run_id"])
    return f"{card.ARTIFACT_DIR}/{card.HTML}"
