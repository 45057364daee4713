"""``make run``: generate sample data for a few dates and run the nightly retraining for each,
through a running local stack's REST API (also what the e2e tests drive DAG runs with)."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from include.retrain import config, summary

from . import generate

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
    run = api.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)
    run["elapsed"] = time.monotonic() - t0
    if run["state"] != "success":
        out(f"{dag_id} run {run['dag_run_id']}: FAILED after {run['elapsed']:.0f}s")
        for ti in api.task_instances(dag_id, run["dag_run_id"]):
            if ti["state"] == "failed":
                log = api.task_log(dag_id, run["dag_run_id"], ti["task_id"], max(ti.get("try_number") or 1, 1))
                out(f"  task {ti['task_id']} failed; last lines of its log:")
                out("\n".join("    " + line for line in log.splitlines()[-25:]))
    return run


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


def seed(stack: Stack, ds: config.DatasetConfig, date: str, **kwargs: Any) -> int:
    files = generate.partition(ds, date, **kwargs)
    return generate.write(files, ds.landing.prefix, s3=stack.s3_client(), bucket=ds.landing.bucket)


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
            out(f"landing: {seed(stack, ds, date)} files for {ds.name} dt={date}")
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
