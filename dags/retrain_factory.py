"""
### Nightly retraining: `retrain_<dataset>`, one DAG per entry of `include/datasets.yaml`

Write-audit-publish on lakeFS, then a Ray Tune search, a holdout gate and the MLflow registry:

1. **ingest** -- copy partition `dt=<logical date>` of the landing prefix into lakeFS branch
   `ingest-<dag_id>-<run>` (created from `main`): streamed, parallel, skipping objects already on main.
   A night with nothing to do (nothing new landed, nothing refused, and the champion trained on all
   of main's data, or with no champion the last candidate did and was rejected) goes straight to
   **summarize**; every task between is skipped.
2. **validate** -- Great Expectations on the branch. Bad files are quarantined (removed from the
   branch) and listed in `_reports/`; beyond `max_bad_fraction` the run fails, the branch is kept, main untouched.
3. **publish_data** -- commit with lineage metadata, merge into `main`, delete the branch. Passes the
   immutable **commit id** on (pool `lakefs_merge` serialises merges).
4. **check_drift** -- KS and PSI of the data on main the champion has not seen against its training data.
   **decide_training** -- train when new data was merged, drift was detected, no champion exists, or
   `force_retrain`; skip when nothing of that holds, or with `ingest_only`. With no champion, skip
   too when the newest candidate was trained on main's data with the same config and not promoted.
5. **train** -- a Ray job (Jobs API, deferrable): Ray Tune, each trial early-stopped on its own
   scores; every trial an MLflow child run.
6. **evaluate** -- a Ray job scoring the candidate and the current champion on the same pinned holdout.
7. **gate** -- confidence intervals from a bootstrap of whole held-out units: **promote** when the
   candidate clears the floor and is within `max_regression` of the champion (and of the pinned
   `reference`) with confidence, **reject** when it misses either with confidence, else
   **approve**: a person decides in the Airflow UI (Required actions); no answer keeps the champion.
   The cost of the run and the model card go to the candidate's MLflow run.
8. **promote** / **reject** -- register the version with lineage tags, alias `challenger`;
   `champion` only on promote; lakeFS tag `model-<name>-v<N>` on the training commit.
9. **summarize** -- the run summary as the DAG-run note and the return value.

The steps are in `include/retrain/steps.py`; what each task returns is in `include/retrain/handoffs.py`.
"""

# TaskFlow calls return XComArgs where the functions declare values: not a mypy-able contract.
# mypy: disable-error-code="call-arg,arg-type,misc"
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, dag, task
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert
from airflow.sdk.exceptions import AirflowSkipException

from include.retrain import config, handoffs, steps, summary
from include.retrain import urls as L
from include.retrain.adapters.airflow_rest import set_dag_run_note, task_durations
from include.retrain.adapters.alerts import RetrainFailureNotifier
from include.retrain.adapters.approval import TASK_ID as APPROVE_TASK
from include.retrain.adapters.approval import ApprovalTask, forget_earlier_answer
from include.retrain.adapters.config_errors import config_error_dag
from include.retrain.adapters.connections import (
    LAKEFS_CONN,
    MLFLOW_CONN,
    lakefs_endpoint,
    mlflow_url,
    ray_endpoint,
    ui_url,
)
from include.retrain.adapters.dag_run import is_backfill, lineage, partition_date
from include.retrain.adapters.deadlines import RunQueuedAt
from include.retrain.adapters.errors import fail_without_retry
from include.retrain.adapters.params import trigger_params
from include.retrain.adapters.ray_operator import RayJobOperator
from include.retrain.adapters.tasks import linked_task, routed_linked_task, routed_task
from include.retrain.config import TriggerParams
from include.retrain.jobs.submission import evaluate_command, train_command

_START = datetime(2026, 1, 1)


def build_retrain_dag(cfg: config.DatasetConfig) -> DAG:
    # Downstream DAGs can be scheduled on these: main of the dataset moved / a champion was promoted.
    # Scheme-less names: an Asset URI with a scheme makes Airflow load every provider at parse time.
    data_asset = Asset(name=f"lakefs/{cfg.repository}/main", group="lakefs")
    model_asset = Asset(name=f"mlflow/models/{cfg.model_name}/champion", group="mlflow")
    lakefs_links = {"link_repository": cfg.repository}

    @dag(
        dag_id=cfg.dag_id,
        description=cfg.description.strip() or f"Nightly retraining of {cfg.name}",
        doc_md=f"{__doc__}\n\n#### Dataset `{cfg.name}` ({cfg.modality})\n{cfg.description}",
        # Data intervals: the run for [D 02:00, D+1 02:00) starts after the interval ends and has
        # logical date D, so it ingests the complete partition dt=D.
        schedule=CronDataIntervalTimetable(cfg.schedule, timezone="UTC"),
        start_date=_START,
        catchup=False,
        max_active_runs=cfg.max_active_runs,
        # A run still going deadline_minutes after it was queued alerts (log + webhook); it is not stopped.
        deadline=DeadlineAlert(
            reference=RunQueuedAt(),  # not DAGRUN_QUEUED_AT: Airflow 3.3's Clear fails on it (deadlines.py)
            interval=timedelta(minutes=cfg.deadline_minutes),
            callback=AsyncCallback(
                "include.retrain.adapters.alerts.deadline_missed",
                kwargs={"dataset": cfg.name, "limit_minutes": cfg.deadline_minutes},
            ),
        ),
        default_args={
            "on_failure_callback": RetrainFailureNotifier(cfg.name),
            "owner": cfg.owner,
            "retries": cfg.retries,
            "retry_delay": timedelta(seconds=30),
            "retry_exponential_backoff": True,
        },
        tags=["retrain", cfg.modality, cfg.name],
        params=trigger_params(cfg),
    )
    def retrain() -> None:
        # a night with nothing to do goes straight to summarize; every other night runs them all
        @routed_linked_task(
            route=lambda i: ["summarize"] if i.get("nothing_to_do") else ["validate", "publish_data", "summarize"],
            links=(L.LAKEFS_BRANCH, L.LAKEFS_DIFF),
            **lakefs_links,
        )
        def ingest(params: dict[str, Any], dag_run: Any) -> handoffs.Ingested:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # boto3: not at parse time

            landing = S3Hook(aws_conn_id=cfg.landing.conn_id).get_conn()
            trigger = TriggerParams.model_validate(params)
            date = partition_date(trigger, dag_run)
            with fail_without_retry():
                ingested = steps.ingest(cfg, landing, date, lakefs_endpoint(), lineage(dag_run))
            backfill = is_backfill(dag_run)
            ingested["nothing_to_do"] = steps.nothing_to_do(
                cfg, lakefs_endpoint(), mlflow_url(), ingested, trigger, backfill
            )
            return ingested

        @linked_task(links=(L.LAKEFS_BRANCH, L.LAKEFS_DIFF, L.VALIDATION_REPORT), **lakefs_links)
        def validate(ingested: handoffs.Ingested, dag_run: Any) -> handoffs.Validated:
            with fail_without_retry():
                return steps.validate(cfg, lakefs_endpoint(), ingested, lineage(dag_run), ray_endpoint())

        @linked_task(pool="lakefs_merge", outlets=[data_asset], links=(L.LAKEFS_COMMIT,), **lakefs_links)
        def publish_data(
            ingested: handoffs.Ingested, validated: handoffs.Validated, dag_run: Any
        ) -> handoffs.Published:
            return steps.publish_data(cfg, lakefs_endpoint(), ingested, validated, lineage(dag_run))

        @task
        def check_drift(published: handoffs.Published, params: dict[str, Any], dag_run: Any) -> handoffs.Drift:
            threshold = TriggerParams.model_validate(params).drift_threshold
            return steps.check_drift(cfg, lakefs_endpoint(), mlflow_url(), published, threshold, dag_run.run_id)

        @routed_task(route=lambda d: "train" if d["train"] else "skip_training")
        def decide_training(
            published: handoffs.Published, drift: handoffs.Drift, params: dict[str, Any], dag_run: Any
        ) -> handoffs.TrainingDecision:
            trigger = TriggerParams.model_validate(params)
            return steps.decide_training(
                cfg, lakefs_endpoint(), mlflow_url(), published, drift, trigger, is_backfill(dag_run)
            )

        @task
        def skip_training(decision: handoffs.TrainingDecision) -> str:
            return decision["reason"]

        ray_job = {"pool": "ray_training", **lakefs_links}
        train = RayJobOperator(
            task_id="train",
            entrypoint=train_command(cfg.name),
            execution_timeout=timedelta(hours=6),
            links=(L.LAKEFS_COMMIT, L.MLFLOW_RUN),
            **ray_job,
        )
        evaluate = RayJobOperator(
            task_id="evaluate",
            entrypoint=evaluate_command(cfg.name),
            execution_timeout=timedelta(hours=1),
            links=(L.MLFLOW_RUN,),
            **ray_job,
        )

        @routed_task(route=lambda d: {"inconclusive": "approve"}.get(d["decision"], d["decision"]))
        def gate(night: handoffs.Candidate, params: dict[str, Any], dag_run: Any, ti: Any) -> handoffs.GateDecision:
            decision = steps.gate(
                cfg,
                lakefs_endpoint(),
                mlflow_url(),
                night,
                TriggerParams.model_validate(params),
                task_durations(dag_run.dag_id, dag_run.run_id),
                (ui_url(LAKEFS_CONN), ui_url(MLFLOW_CONN)),
            )
            if decision["decision"] != "inconclusive":
                forget_earlier_answer(ti)
            return decision

        approve = ApprovalTask(
            task_id=APPROVE_TASK, model_name=cfg.model_name, timeout_minutes=cfg.gate.approval_timeout_minutes
        )

        # after the gate directly, or after a person's answer (approve): whichever ran
        @linked_task(
            links=(L.MLFLOW_MODEL, L.LAKEFS_COMMIT, L.MODEL_CARD),
            trigger_rule="none_failed_min_one_success",
            **lakefs_links,
        )
        def publish_model(
            night: handoffs.Candidate,
            decision: handoffs.GateDecision,
            approval: dict[str, Any] | None,
            training: handoffs.TrainingDecision,
            dag_run: Any,
        ) -> handoffs.PublishedModel:
            # It runs whether the gate chose it or a person did; a night that did not train has no
            # candidate (and a skipped task may still hold a cleared earlier try's result).
            if not training["train"]:
                raise AirflowSkipException(f"no candidate in this run: {training['reason']}")
            ui = (ui_url(LAKEFS_CONN), ui_url(MLFLOW_CONN))
            endpoint = lakefs_endpoint()
            return steps.publish_model(cfg, endpoint, mlflow_url(), night, decision, approval, lineage(dag_run), ui)

        @task(trigger_rule="none_failed_min_one_success")
        def summarize(results: handoffs.RunResults, params: dict[str, Any], dag_run: Any) -> handoffs.RunSummary:
            date = partition_date(TriggerParams.model_validate(params), dag_run)
            durations = task_durations(dag_run.dag_id, dag_run.run_id)  # the cost of a night without a candidate
            out = steps.summarize(lineage(dag_run), date, results, ui_url(LAKEFS_CONN), ui_url(MLFLOW_CONN), durations)
            set_dag_run_note(dag_run.dag_id, dag_run.run_id, summary.note(out))
            return out

        ingested = ingest()
        validated = validate(ingested)
        published = publish_data(ingested, validated)
        drift = check_drift(published)
        decision = decide_training(published, drift)
        skipped = skip_training(decision)
        decision >> train >> evaluate
        night = {
            "published": published,
            "validated": validated,
            "drift": drift,
            "training": train.output,
            "evaluation": evaluate.output,
        }
        gated = gate(night)
        gated >> approve
        candidate = (night, gated, approve.output, decision)
        promoted = publish_model.override(task_id="promote", outlets=[model_asset])(*candidate)
        rejected = publish_model.override(task_id="reject")(*candidate)
        gated >> [promoted, rejected]
        results = {
            "ingested": ingested,
            "published": published,
            "validated": validated,
            "drift": drift,
            "decision": decision,
            "training": train.output,
            "evaluation": evaluate.output,
            "gated": gated,
            "approval": approve.output,
            "promoted": promoted,
            "rejected": rejected,
        }
        [promoted, rejected, skipped] >> summarize(results)

    return retrain()


_loaded = config.load()
for _cfg in _loaded.datasets:
    build_retrain_dag(_cfg)
for _dag_id, _message in _loaded.error_dags.items():
    config_error_dag(_dag_id, _message)
