"""
### Nightly retraining: `retrain_<dataset>`, one DAG per entry of `include/datasets.yaml`

Write-audit-publish on lakeFS, then a Ray Tune search, a holdout gate and the MLflow registry:

1. **ingest** -- copy partition `dt=<logical date>` of the landing prefix into lakeFS branch
   `ingest-<dag_id>-<run>` (created from `main`): streamed, parallel, skipping objects already on main.
2. **validate** -- Great Expectations on the branch. Bad files are quarantined (removed from the
   branch) and listed in `_reports/`; beyond `max_bad_fraction` the run fails, the branch is kept, main untouched.
3. **publish_data** -- commit with lineage metadata, merge into `main`, delete the branch. Passes the
   immutable **commit id** on (pool `lakefs_merge` serialises merges).
4. **check_drift** -- KS and PSI of the data on main the champion has not seen against its training data.
   **decide_training** -- train when new data was merged, drift was detected, no champion exists, or
   `force_retrain`; skip when nothing of that holds, or with `ingest_only`.
5. **train** -- a Ray job (Jobs API, deferrable): Ray Tune with ASHA; every trial an MLflow child run.
6. **evaluate** -- a Ray job scoring the candidate and the current champion on the same pinned holdout.
7. **gate** -- `metric >= floor` and no regression beyond `max_regression` (first model: floor only).
8. **promote** / **reject** -- register the version with lineage tags, alias `challenger`;
   `champion` only on promote; lakeFS tag `model-<name>-v<N>` on the training commit.
9. **summarize** -- the run summary as the DAG-run note and the return value.
"""

# TaskFlow calls return XComArgs where the functions declare values: not a mypy-able contract.
# mypy: disable-error-code="call-arg,arg-type,misc"
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, Param, dag, task
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from include.retrain import config, entrypoints
from include.retrain import links as L
from include.retrain.adapters.links import linked_task
from include.retrain.adapters.notify import RetrainFailureNotifier
from include.retrain.adapters.ray_job import RayJobOperator

_START = datetime(2026, 1, 1)


def _params(cfg: config.DatasetConfig) -> dict[str, Param]:
    return {
        "force_retrain": Param(False, type="boolean", description="Train even when nothing new was merged."),
        "force_promote": Param(
            False, type="boolean", description="Promote even if the gate fails; recorded as an override on the version."
        ),
        "num_samples": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=200,
            description=f"Ray Tune trials (default {cfg.tune.num_samples}).",
        ),
        "max_epochs": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=500,
            description=f"Epochs per trial (default {cfg.tune.max_epochs}).",
        ),
        "gpus_per_trial": Param(
            None,
            type=["null", "number"],
            minimum=0,
            description=f"GPUs per trial, fractional allowed (default {cfg.tune.gpus_per_trial}).",
        ),
        "landing_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Ingest this dt=YYYY-MM-DD partition instead of the logical date's.",
        ),
        "drift_threshold": Param(
            0.2,
            type="number",
            minimum=0.0,
            description="PSI above which a feature counts as drifted (0.2: significant).",
        ),
        "ingest_only": Param(
            False,
            type="boolean",
            description="Ingest, validate and publish only; train on a later run (backfill runs always do).",
        ),
        "train_label_noise": Param(
            0.0,
            type="number",
            minimum=0.0,
            maximum=0.9,
            description="Testing knob: mislabel this fraction of training labels (each moved to the next class).",
        ),
    }


def _partition_date(params: dict[str, Any], dag_run: Any) -> str:
    when = dag_run.logical_date or dag_run.run_after
    return params.get("landing_date") or when.strftime("%Y-%m-%d")


def build_retrain_dag(cfg: config.DatasetConfig) -> DAG:
    # Downstream DAGs can be scheduled on these: main of the dataset moved / a champion was promoted.
    # Scheme-less names: an Asset URI with a scheme makes Airflow load every provider at parse time.
    data_asset = Asset(name=f"lakefs/{cfg.repository}/main", group="lakefs")
    model_asset = Asset(name=f"mlflow/models/{cfg.model_name}/champion", group="mlflow")

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
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=cfg.deadline_minutes),
            callback=AsyncCallback(
                "include.retrain.adapters.notify.deadline_missed",
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
        params=_params(cfg),
    )
    def retrain() -> None:
        @linked_task(links=(L.LAKEFS_BRANCH, L.LAKEFS_DIFF), link_repository=cfg.repository)
        def ingest(params: dict[str, Any], dag_run: Any) -> dict[str, Any]:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            from include.retrain import pipeline
            from include.retrain.adapters.connections import lakefs_endpoint
            from include.retrain.adapters.errors import fail_without_retry

            landing = S3Hook(aws_conn_id=cfg.landing.conn_id).get_conn()
            with fail_without_retry():
                date = _partition_date(params, dag_run)
                return pipeline.ingest(cfg, landing, date, lakefs_endpoint(), dag_run.dag_id, dag_run.run_id)

        @linked_task(links=(L.LAKEFS_BRANCH, L.LAKEFS_DIFF, L.VALIDATION_REPORT), link_repository=cfg.repository)
        def validate(ingested: dict[str, Any], dag_run: Any) -> dict[str, Any]:
            from include.retrain import pipeline
            from include.retrain.adapters.connections import lakefs_endpoint
            from include.retrain.adapters.errors import fail_without_retry

            with fail_without_retry():
                return pipeline.validate(cfg, lakefs_endpoint(), ingested, dag_run.dag_id, dag_run.run_id)

        @linked_task(
            pool="lakefs_merge", outlets=[data_asset], links=(L.LAKEFS_COMMIT,), link_repository=cfg.repository
        )
        def publish_data(ingested: dict[str, Any], validation: dict[str, Any], dag_run: Any) -> dict[str, Any]:
            from include.retrain import pipeline
            from include.retrain.adapters.connections import lakefs_endpoint

            lineage = {
                "airflow.dag_id": dag_run.dag_id,
                "airflow.run_id": dag_run.run_id,
                "airflow.logical_date": str(dag_run.logical_date or dag_run.run_after),
            }
            return pipeline.publish_data(cfg, lakefs_endpoint(), ingested, validation, lineage)

        @task
        def check_drift(published: dict[str, Any], params: dict[str, Any], dag_run: Any) -> dict[str, Any]:
            from include.retrain import drift, lakefs_io, registry
            from include.retrain.adapters.connections import lakefs_endpoint, mlflow_url

            champion = registry.champion_commit(mlflow_url(), cfg.model_name)
            if champion is None:
                return {"drift_detected": False, "features": {}, "unseen_files": 0, "note": "no champion yet"}
            clt = lakefs_io.client(lakefs_endpoint())
            result = drift.unseen_drift(cfg, clt, champion[1], published["commit"], float(params["drift_threshold"]))
            registry.log_drift(mlflow_url(), cfg.experiment, dag_run.run_id, result)
            return result

        @task.branch
        def decide_training(
            published: dict[str, Any], drift: dict[str, Any], params: dict[str, Any], ti: Any, dag_run: Any
        ) -> str:
            from include.retrain import pipeline, registry
            from include.retrain.adapters.connections import mlflow_url

            champion = registry.champion_version(mlflow_url(), cfg.model_name)
            reason = pipeline.training_decision(
                published["new_data"],
                drift,
                champion,
                params["force_retrain"],
                params["ingest_only"],
                backfill=getattr(dag_run.run_type, "value", dag_run.run_type) == "backfill",
            )
            ti.xcom_push(key="skip_reason", value=reason)  # always written: a cleared rerun must not see stale XCom
            return "skip_training" if reason else "train"

        @task
        def skip_training(ti: Any) -> str:
            return ti.xcom_pull(task_ids="decide_training", key="skip_reason")

        train = RayJobOperator(
            task_id="train",
            entrypoint=entrypoints.train(cfg.name),
            pool="ray_training",
            execution_timeout=timedelta(hours=6),
            links=(L.LAKEFS_COMMIT, L.MLFLOW_RUN),
            link_repository=cfg.repository,
        )
        evaluate = RayJobOperator(
            task_id="evaluate",
            entrypoint=entrypoints.evaluate(cfg.name),
            pool="ray_training",
            execution_timeout=timedelta(hours=1),
            links=(L.MLFLOW_RUN,),
            link_repository=cfg.repository,
        )

        @task.branch
        def gate(evaluation: dict[str, Any], params: dict[str, Any], ti: Any) -> str:
            from include.retrain.gate import decide

            d = decide(
                cfg.gate.metric,
                evaluation["result"],
                cfg.gate.floor,
                cfg.gate.max_regression,
                bool(params["force_promote"]),
            )
            ti.xcom_push(key="decision", value=d.as_dict())
            return d.decision

        @linked_task(links=(L.MLFLOW_MODEL, L.LAKEFS_COMMIT), link_repository=cfg.repository)
        def publish_model(published: dict[str, Any], training: dict[str, Any], ti: Any, dag_run: Any) -> dict:
            from include.retrain import lakefs_io, registry
            from include.retrain.adapters.connections import lakefs_endpoint, mlflow_url
            from include.retrain.gate import GateDecision

            decision = GateDecision(**ti.xcom_pull(task_ids="gate", key="decision"))
            lineage = {
                "lakefs.repo": cfg.repository,
                "lakefs.commit": published["commit"],
                "airflow.dag_id": dag_run.dag_id,
                "airflow.run_id": dag_run.run_id,
                "git.sha": registry.git_sha(),
            }
            out = registry.publish(mlflow_url(), cfg.model_name, training["result"]["run_id"], lineage, decision)
            repo = lakefs_io.ensure_repository(lakefs_io.client(lakefs_endpoint()), cfg.repository)
            lakefs_io.ensure_tag(repo, f"model-{cfg.model_name}-v{out['version']}", published["commit"])
            return {"name": cfg.model_name, "commit": published["commit"], **out}

        @task(trigger_rule="none_failed_min_one_success")
        def summarize(params: dict[str, Any], ti: Any, dag_run: Any) -> dict[str, Any]:
            from include.retrain import summary
            from include.retrain.adapters.connections import LAKEFS_CONN, MLFLOW_CONN, ui_url
            from include.retrain.adapters.notes import set_dag_run_note

            pull = ti.xcom_pull
            # Only XComs of tasks that ran in this try: skipped ones may hold a cleared try's values.
            skip_reason = pull(task_ids="decide_training", key="skip_reason")
            trained = skip_reason is None
            published = pull(task_ids="publish_data")
            training = pull(task_ids="train") if trained else None
            decision = pull(task_ids="gate", key="decision") if trained else None
            model = pull(task_ids=decision["decision"]) if decision else None
            links = summary.links(
                ui_url(LAKEFS_CONN),
                ui_url(MLFLOW_CONN),
                cfg.repository,
                (published or {}).get("commit"),
                model,
                training,
            )
            out = summary.build(
                dag_run.dag_id,
                dag_run.run_id,
                _partition_date(params, dag_run),
                published,
                pull(task_ids="validate"),
                training,
                pull(task_ids="evaluate") if trained else None,
                decision,
                model,
                skip_reason,
                links,
                drift=pull(task_ids="check_drift"),
            )
            set_dag_run_note(dag_run.dag_id, dag_run.run_id, summary.note(out))
            return out

        ingested = ingest()
        validation = validate(ingested)
        published = publish_data(ingested, validation)
        branch = decide_training(published, check_drift(published))
        skipped = skip_training()
        branch >> [train, skipped]
        train >> evaluate
        decided = gate(evaluate.output)
        promote = publish_model.override(task_id="promote", outlets=[model_asset])(published, train.output)
        reject = publish_model.override(task_id="reject")(published, train.output)
        decided >> [promote, reject]
        [promote, reject, skipped] >> summarize()

    return retrain()


def build_config_error_dag(entry: str, message: str) -> DAG:
    """A paused DAG that shows (and raises) a datasets.yaml error without breaking the valid entries."""
    dag_id = f"retrain_{entry}" if config.DAG_SAFE.match(entry) else f"retrain_invalid_entry_{entry.strip('#')}"

    @dag(
        dag_id=dag_id,
        doc_md=f"### Invalid datasets.yaml entry\n\n```\n{message}\n```\n\nFix the entry; "
        "this DAG is replaced by the real one at the next parse.",
        schedule=None,
        start_date=_START,
        catchup=False,
        is_paused_upon_creation=True,
        tags=["retrain", "config-error"],
        default_args={"owner": "data-platform", "retries": 1},
    )
    def invalid() -> None:
        @task(retries=0)
        def config_error() -> None:
            raise ValueError(message)

        config_error()

    return invalid()


_loaded = config.load()
for _cfg in _loaded.datasets:
    build_retrain_dag(_cfg)
for _entry, _message in _loaded.errors.items():
    build_config_error_dag(_entry, _message)
