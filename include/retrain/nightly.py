"""``make run``: generate sample data for a few dates and run the nightly retraining for each."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from . import config, generate, summary

if TYPE_CHECKING:
    from .stack.services import Stack


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
    from .driver import run_dag, run_url, ui_lines

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
