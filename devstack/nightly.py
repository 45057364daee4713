"""``make run``: generate sample data for a few dates and run the nightly retraining for each,
through a running local stack's REST API (also what the e2e tests drive DAG runs with)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.retrain import config, summary

from . import generate
from .airflow_api import AirflowAPIError

if TYPE_CHECKING:
    from .services import Stack


def run_dag(
    stack: Stack,
    dag_id: str,
    logical_date: str | None,
    conf: dict[str, Any] | None = None,
    run_id: str | None = None,
    timeout: float = 1800,
) -> dict[str, Any]:
    """Trigger ``dag_id`` (unpausing it), wait until it ends, print failed tasks' log tails.

    Returns:
        The final DAG run (``state`` is ``success`` or ``failed``), plus ``elapsed`` seconds.
    """
    out, api = stack.out, stack.airflow_api()
    api.wait_for_dag(dag_id)
    api.unpause(dag_id)
    t0 = time.monotonic()
    existing = api.run_at(dag_id, logical_date) if logical_date else None
    if existing:  # a date already run: clear and rerun it, as a user would from the UI
        run = existing
        api.clear_run(dag_id, run["dag_run_id"])
        out(f"cleared existing {dag_id} run {run['dag_run_id']} for {logical_date}; rerunning ...")
    else:
        run = api.trigger(dag_id, logical_date, conf=conf, run_id=run_id)
        out(f"triggered {dag_id} run {run['dag_run_id']}; waiting ...")
    run = _wait_announcing_approvals(stack, dag_id, run["dag_run_id"], timeout)
    run["elapsed"] = time.monotonic() - t0
    if run["state"] != "success":
        out(f"{dag_id} run {run['dag_run_id']}: FAILED after {run['elapsed']:.0f}s")
        for ti in api.task_instances(dag_id, run["dag_run_id"]):
            if ti["state"] == "failed":
                log = api.task_log(dag_id, run["dag_run_id"], ti["task_id"], max(ti.get("try_number") or 1, 1))
                out(f"  task {ti['task_id']} failed; last lines of its log:")
                out("\n".join("    " + line for line in log.splitlines()[-25:]))
    return run


def _wait_announcing_approvals(stack: Stack, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    """Wait for the run to end; say once where to answer when its gate asks a person."""
    api, deadline, announced = stack.airflow_api(), time.monotonic() + timeout, False
    while True:
        try:
            return api.wait_for_run(dag_id, run_id, timeout=min(15.0, max(deadline - time.monotonic(), 0.0)))
        except AirflowAPIError:
            if time.monotonic() >= deadline:
                raise
        if not announced and any(t["state"] == "awaiting_input" for t in api.task_instances(dag_id, run_id)):
            url = f"{run_url(stack, dag_id, run_id)}/tasks/approve/required_actions"
            stack.out(f"  the gate is inconclusive: a person decides -- Promote or Reject at {url}")
            stack.out("  (no answer before the approval timeout keeps the champion)")
            announced = True


def run_url(stack: Stack, dag_id: str, run_id: str) -> str:
    return f"{stack.config.url('airflow')}/dags/{dag_id}/runs/{run_id}"


def ui_lines(stack: Stack) -> list[str]:
    c = stack.config
    return [
        f"UIs (credentials in {stack.credentials_file}):",
        f"  Airflow  {c.url('airflow')}   (user {stack.creds.airflow_username}, password: airflow_password)",
        f"  lakeFS   {c.url('lakefs')}    (access key / secret: lakefs_access_key_id / lakefs_secret_access_key)",
        f"  MLflow   {c.url('mlflow')}",
        f"  Ray      {c.url('ray_dashboard')}",
    ]


def default_dates(days: int = 3, today: dt.date | None = None) -> list[str]:
    """The ``days`` dates before today (UTC), oldest first: last nights' partitions."""
    today = today or dt.datetime.now(dt.UTC).date()
    return [(today - dt.timedelta(days=d)).isoformat() for d in range(days, 0, -1)]


def logical_date(ds: config.DatasetConfig, date: str) -> str:
    """The logical date of the scheduled run that ingests partition ``date``: the first
    cron time on that day (the start of its data interval), e.g. 2026-11-01T02:00:00+00:00."""
    from croniter import croniter

    start = dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC)
    fire = croniter(ds.schedule, start - dt.timedelta(seconds=1)).get_next(dt.datetime)
    if fire.date() != start.date():
        raise ValueError(f"schedule {ds.schedule!r} of {ds.name} has no run on {date}")
    return fire.isoformat()


def publish_files(stack: Stack, ds: config.DatasetConfig, date: str, run_id: str, files: dict[str, bytes]) -> str:
    """Land ``files`` (name below ``dt=<date>/`` -> bytes) and run the ingest, validate and publish
    steps (the code of the DAG's tasks, without the scheduler); returns the commit on main."""
    from include.retrain import steps
    from include.retrain.handoffs import RunLineage

    s3, endpoint = stack.s3_client(), stack.lakefs_endpoint()
    for name, body in files.items():
        s3.put_object(Bucket=ds.landing.bucket, Key=f"{ds.landing.prefix}/dt={date}/{name}", Body=body)
    lineage = RunLineage(ds.dag_id, run_id, date)
    ingested = steps.ingest(ds, s3, date, endpoint, lineage)
    report = steps.validate(ds, endpoint, ingested, lineage)
    return str(steps.publish_data(ds, endpoint, ingested, report, lineage)["commit"])


def submit_job(stack: Stack, datasets_file: Path, entrypoint: str, name: str) -> tuple[Any, str]:
    """Submit a job of the product to the stack's Ray cluster, reading ``datasets_file``."""
    from include.retrain.jobs import submission

    env = submission.runtime_env({"RETRAIN_DATASETS_FILE": str(datasets_file)})
    client = submission.job_client(stack.config.url("ray_dashboard"), stack.ray_token())
    sub = submission.submission_id("jobs", name, "job", entrypoint)
    assert submission.submit_or_reattach(client, sub, entrypoint, env) == "submitted"
    return client, sub


def wait_job(client: Any, sub: str, timeout: float = 1800, succeed: bool = True) -> tuple[dict[str, Any], str]:
    """Wait for a job; returns (its RETRAIN_RESULT, its log). ``succeed``: it must have succeeded."""
    from include.retrain.jobs import submission

    status = submission.wait_for_end(client, sub, timeout, poll=1)
    logs = client.get_job_logs(sub)
    if succeed and status != "SUCCEEDED":
        raise AssertionError(f"Ray job {sub} did not succeed:\n{logs[-3000:]}")
    return submission.parse_result(logs), logs


def write_datasets_file(path: Path, *datasets: config.DatasetConfig) -> Path:
    """A datasets.yaml holding ``datasets``, for a Ray job to read through RETRAIN_DATASETS_FILE."""
    import json

    import yaml

    entries = [json.loads(ds.model_dump_json()) for ds in datasets]
    path.write_text(yaml.safe_dump({"datasets": entries}, sort_keys=False))
    return path


def seed(stack: Stack, ds: config.DatasetConfig, date: str, **kwargs: Any) -> int:
    files = generate.partition(ds, date, **kwargs)
    return generate.write(files, ds.landing.prefix, s3=stack.s3_client(), bucket=ds.landing.bucket)


# make run's sample data behaves more like a real fleet than the generator's defaults (which the
# mechanics tests use): each fault segment or defect is scaled by a factor drawn from "severity"
# (mild ones overlap with normal data), and the healthy class has "normal_weight" times the data
# of a fault. On full-strength, balanced faults every candidate scored 1.0 and the gate never decided.
MAKE_RUN_SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "sensor": {"severity": (0.0, 1.0), "normal_weight": 3.0},
    "image": {"severity": (0.1, 1.0), "normal_weight": 3.0},
}


def run_nightly(
    stack: Stack, datasets: list[str] | None = None, dates: list[str] | None = None, conf: dict[str, Any] | None = None
) -> int:
    """Seed ``dates`` into the landing zone and run ``retrain_<dataset>`` once per date, in order,
    for each dataset (default: every valid entry of datasets.yaml)."""
    out = stack.out
    chosen = [config.get(name) for name in datasets] if datasets else config.load().datasets
    dates = dates or default_dates()
    failures = 0
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    for ds in chosen:
        for date in dates:
            landed = seed(stack, ds, date, **MAKE_RUN_SAMPLE_DATA[ds.modality])
            out(f"landing: {landed} files for {ds.name} dt={date}")
        for date in dates:
            run = run_dag(stack, ds.dag_id, logical_date(ds, date), conf=conf, run_id=f"make_run__{date}__{stamp}")
            out("")
            out(
                f"{ds.dag_id} dt={date}: {run['state'].upper()} in {run['elapsed']:.0f}s  "
                f"{run_url(stack, ds.dag_id, run['dag_run_id'])}"
            )
            if run["state"] != "success":
                failures += 1
                continue
            for line in summary.console(stack.airflow_api().xcom(ds.dag_id, run["dag_run_id"], "summarize")):
                out(line)
        out("")
    for line in ui_lines(stack):
        out(line)
    return 1 if failures else 0
